"""JUnit XML reports of test scenario runs (one testsuite per run, one testcase per step)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from dss_provider.emulator.state import Run, Scenario
from dss_provider.emulator.views import StepView, visible_steps


def _suite(run: Run, now: float, step_id: str | None = None) -> ET.Element:
    views: list[StepView] = [
        v
        for v in visible_steps(run, now)
        if v.outcome is not None and (step_id is None or v.plan.step_id == step_id)
    ]
    name = f"{run.project_key}.{run.scenario_id}"
    failures = sum(1 for v in views if v.outcome == "FAILED")
    errors = sum(1 for v in views if v.outcome == "ABORTED")
    duration = sum(v.end - v.plan.start for v in views)
    suite = ET.Element(
        "testsuite",
        {
            "name": name,
            "id": run.run_id,
            "tests": str(len(views)),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": "0",
            "time": f"{duration:.3f}",
            "timestamp": datetime.fromtimestamp(run.start, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    for v in views:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": name, "name": v.plan.name, "time": f"{v.end - v.plan.start:.3f}"},
        )
        if v.outcome == "FAILED":
            message = v.plan.script.message or f"Step '{v.plan.name}' failed"
            failure = ET.SubElement(case, "failure", {"message": message, "type": "FAILED"})
            failure.text = message
        elif v.outcome == "ABORTED":
            ET.SubElement(case, "error", {"message": "Step aborted", "type": "ABORTED"})
        elif v.outcome == "WARNING":
            out = ET.SubElement(case, "system-out")
            out.text = f"WARNING: {v.plan.script.message or 'step ended with warnings'}"
    return suite


def _serialize(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def run_report(run: Run, now: float, step_id: str | None = None) -> bytes:
    """JUnit XML for one run (finished steps only), optionally restricted to one step."""
    root = ET.Element("testsuites")
    root.append(_suite(run, now, step_id))
    return _serialize(root)


def last_runs_report(scenarios: list[Scenario], now: float) -> bytes:
    """JUnit XML combining the last finished run of each test scenario."""
    root = ET.Element("testsuites")
    for sc in scenarios:
        if sc.marked_as_test and sc.finished_order:
            root.append(_suite(sc.runs[sc.finished_order[-1]], now))
    return _serialize(root)
