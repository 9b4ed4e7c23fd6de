"""The step log of a run the worker waits for: each step as it starts and as it ends."""

from __future__ import annotations

from typing import Any

from dss_provider.protocol.models import ms_to_datetime, step_warning, summarize_step


def _seconds_between(start: object, end: object) -> float | None:
    s, e = ms_to_datetime(start), ms_to_datetime(end)
    return (e - s).total_seconds() if s and e else None


class StepProgress:
    """``on_poll`` callback of the worker wait: logs each step as it starts and as it ends."""

    def __init__(self, log: Any, where: str) -> None:
        self.log = log
        self.where = where
        self._started: set[str] = set()
        self._ended: set[str] = set()

    def __call__(self, details: dict[str, Any]) -> None:
        """Log the steps of the run details that started or ended since the last call."""
        for index, step_run in enumerate(details.get("stepRuns") or []):
            step = summarize_step(step_run)
            key = str(step_run.get("runId") or step["id"] or index)
            label = f"{step['name'] or step['id']!r} ({step['type'] or 'step'})"
            if key not in self._started:
                self._started.add(key)
                self.log.info("%s: step %d %s started", self.where, index + 1, label)
            if step["outcome"] and key not in self._ended:
                self._ended.add(key)
                result = step_run.get("result") or {}
                duration = _seconds_between(
                    step_run.get("start") or result.get("start"), step_run.get("end") or result.get("end")
                )
                took = f" in {duration:.1f}s" if duration is not None else ""
                extra = ""
                if step["error"]:
                    extra = f": {step['error'].get('message') or step['error'].get('clazz')}"
                elif step["outcome"] == "WARNING" and step_warning(step_run):
                    extra = f": {step_warning(step_run)}"
                level = self.log.info if step["outcome"] == "SUCCESS" else self.log.warning
                level(
                    "%s: step %d %s ended %s%s%s", self.where, index + 1, label, step["outcome"], took, extra
                )
