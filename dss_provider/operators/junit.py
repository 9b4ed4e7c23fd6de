"""Reading a DSS JUnit report into the small summary the report operator returns."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from dss_provider.exceptions import DSSError, DSSTarget

#: Failed test cases named in the task log, at most.
MAX_LOGGED_CASES = 20


def _int(element: ET.Element, name: str) -> int:
    try:
        return int(float(element.get(name) or 0))
    except ValueError:
        return 0


def parse_junit(content: bytes, target: DSSTarget) -> tuple[dict[str, int], list[str]]:
    """``({tests, failures, errors, skipped}, ["case: message", ...])`` of a JUnit XML document."""
    if b"<!DOCTYPE" in content[:4096] or b"<!ENTITY" in content[:4096]:
        raise DSSError(
            f"The JUnit report of {target.describe()} declares a DTD or entities; refusing to parse it."
        )
    try:
        root = ET.fromstring(content)
    except ET.ParseError as err:
        raise DSSError(
            f"DSS returned a JUnit report of {target.describe()} that is not valid XML: {err}."
        ) from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if root.tag not in ("testsuite", "testsuites"):
        raise DSSError(
            f"DSS returned a report of {target.describe()} that is not JUnit XML (root <{root.tag}>)."
        )
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    problems: list[str] = []
    for suite in suites:
        cases = list(suite.iter("testcase"))
        counted = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key in totals:
            # The suite's own counters win; count the cases when DSS left them out.
            totals[key] += _int(suite, key) if suite.get(key) is not None else counted[key]
        for case in cases:
            for kind in ("failure", "error"):
                node = case.find(kind)
                if node is not None:
                    message = node.get("message") or (node.text or "").strip() or kind
                    problems.append(f"{case.get('name') or '?'} ({kind}): {message}")
    return totals, problems


def log_report(log: Any, totals: dict[str, int], problems: list[str], target: DSSTarget) -> None:
    """Log a JUnit report's totals and its problems."""
    summary = ", ".join(f"{v} {k}" for k, v in totals.items())
    if problems:
        log.warning("JUnit report of %s: %s", target.describe(), summary)
        for line in problems[:MAX_LOGGED_CASES]:
            log.warning("  %s", line)
        if len(problems) > MAX_LOGGED_CASES:
            log.warning("  ... and %d more", len(problems) - MAX_LOGGED_CASES)
    else:
        log.info("JUnit report of %s: %s", target.describe(), summary)
