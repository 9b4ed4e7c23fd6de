"""Helpers shared by the scenario operators: argument checks, XCom, log tails, step progress."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dss_provider.api import endpoints
from dss_provider.api.models import ms_to_datetime, summarize_step
from dss_provider.checks import is_template, is_unrendered
from dss_provider.exceptions import DSSConfigurationError

IF_ALREADY_RUNNING = ("wait", "fail", "attach")
#: Lines of a failed step's log copied into the task log.
DEFAULT_LOG_TAIL_LINES = 50
#: Upper bound of characters copied into the task log or into an XCom, whatever the line count.
MAX_TAIL_CHARS = 64 * 1024


def check_optional_id(value: object, what: str) -> str | None:
    """A rendered optional identifier: None/empty means "not given"."""
    if value is None or value == "":
        return None
    return endpoints.check_id(value, what)


def check_optional_id_early(value: object, what: str) -> None:
    if not is_unrendered(value):
        check_optional_id(value, what)


def parse_trigger_params(value: object) -> dict[str, Any]:
    """Rendered ``trigger_params``: a JSON object (a dict, or a string holding one), else an error."""
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text) if text.strip() else None
        except ValueError:
            raise DSSConfigurationError(
                f"trigger_params must be a JSON object, got a string that is not JSON: {text[:200]!r}."
            ) from None
        if value is not None and not isinstance(value, dict):
            raise DSSConfigurationError(
                f"trigger_params must be a JSON object, got a JSON {type(value).__name__}."
            )
    return dict(endpoints.check_json_object(value, "trigger_params"))


def check_trigger_params_early(value: object) -> None:
    if not is_unrendered(value):
        if isinstance(value, dict) and any(is_template(v) for v in value.values()):
            return
        parse_trigger_params(value)


def check_choice(value: object, what: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DSSConfigurationError(
            f"{what} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}."
        )
    return str(value)


def check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DSSConfigurationError(f"{what} must be an integer >= 0, got {value!r}.")
    return value


def check_output_path(value: object) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise DSSConfigurationError(f"output_path must be a file path, got {value!r}.")
    path = Path(value)
    if path.exists() and path.is_dir():
        raise DSSConfigurationError(f"output_path {str(path)!r} is a directory; give a file path.")
    return path


def write_output(path: Path, content: bytes) -> int:
    """Write a file atomically (a temporary file renamed over it); the number of bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    partial.replace(path)
    return len(content)


def push_xcom(context: Mapping[str, Any], key: str, value: Any) -> None:
    """Push one XCom right away (a failed or killed task still shows it)."""
    ti = context.get("ti")
    if ti is not None and value is not None:
        ti.xcom_push(key=key, value=value)


def tail(text: str, lines: int, max_chars: int = MAX_TAIL_CHARS) -> tuple[str, bool]:
    """The last ``lines`` lines of ``text`` (at most ``max_chars``); True when something was cut."""
    if lines <= 0:
        return "", bool(text)
    parts = text.splitlines()
    kept = "\n".join(parts[-lines:])
    cut = len(parts) > lines
    if len(kept) > max_chars:
        kept, cut = kept[-max_chars:], True
    return kept, cut


def _seconds_between(start: object, end: object) -> float | None:
    s, e = ms_to_datetime(start), ms_to_datetime(end)
    return (e - s).total_seconds() if s and e else None


def step_warning(step_run: dict[str, Any]) -> str | None:
    """The first warning message of a step run, when DSS gave one."""
    warnings = ((step_run.get("result") or {}).get("warnings") or {}).get("warnings") or []
    for w in warnings:
        if isinstance(w, dict) and w.get("message"):
            return str(w["message"])
    return None


class StepProgress:
    """``on_poll`` callback of the worker wait: logs each step as it starts and as it ends."""

    def __init__(self, log: Any, where: str) -> None:
        self.log = log
        self.where = where
        self._started: set[str] = set()
        self._ended: set[str] = set()

    def __call__(self, details: dict[str, Any]) -> None:
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
