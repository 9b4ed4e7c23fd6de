"""What the operators write outside DSS: XComs pushed at once, log tails, output files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Lines of a failed step's log copied into the task log.
DEFAULT_LOG_TAIL_LINES = 50
#: Upper bound of characters copied into the task log or into an XCom, whatever the line count.
MAX_TAIL_CHARS = 64 * 1024


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
