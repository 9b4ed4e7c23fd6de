"""Every check of a user-given argument (operators, sensors, triggers, hooks, request descriptions).

Values that Airflow still has to render (Jinja strings, XComArgs) are checked only after rendering,
at the top of ``execute``; everything else fails at DAG parse time with a message naming the argument.
This module imports nothing of the provider but its exceptions and ``compat`` (for the one Airflow
setting it reads), so any layer may use it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from dss_provider.compat import conf
from dss_provider.exceptions import DSSConfigurationError

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")


def is_template(value: object) -> bool:
    """A string Airflow will still render."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def is_unrendered(value: object) -> bool:
    """Not checkable yet: a Jinja string, or an XComArg and the like (resolved at run time)."""
    if is_template(value):
        return True
    plain = (str, int, float, bool, dict, list, tuple, type(None))
    return not isinstance(value, plain)


# --- identifiers and JSON -------------------------------------------------------------------------


def check_id(value: object, what: str) -> str:
    """Validate a DSS identifier given by a user, with an error that says which argument is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise DSSConfigurationError(f"{what} must be a non-empty string, got {value!r}.")
    if not _ID_PATTERN.match(value) or value in {".", ".."}:
        raise DSSConfigurationError(
            f"{what} {value!r} is not a valid DSS identifier (letters, digits, '_', '-' and '.' only)."
        )
    return value


def check_json_object(value: object, what: str) -> dict[str, Any]:
    """Validate that a value is a JSON object DSS will accept (a dict of JSON-serialisable values)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DSSConfigurationError(f"{what} must be a JSON object (a dict), got {type(value).__name__}.")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise DSSConfigurationError(f"{what} is not JSON-serialisable: {err}.") from None
    return value


def check_id_early(value: object, what: str) -> None:
    """Validate an identifier at construction unless it is still to be rendered."""
    if not is_unrendered(value):
        check_id(value, what)


def check_rendered_id(value: object, what: str, hint: str = "") -> str:
    """Validate an identifier after rendering; ``None`` (or a rendered ``"None"``) gets a hint."""
    if value is None or value == "None":
        raise DSSConfigurationError(f"{what} is None (it was rendered from an empty value).{hint}")
    return check_id(value, what)


def check_optional_id(value: object, what: str) -> str | None:
    """A rendered optional identifier: None/empty means "not given"."""
    if value is None or value == "":
        return None
    return check_id(value, what)


def check_optional_id_early(value: object, what: str) -> None:
    """:func:`check_optional_id` at construction, unless the value is still to be rendered."""
    if not is_unrendered(value):
        check_optional_id(value, what)


def check_conn_id(value: object) -> str:
    """A connection id: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise DSSConfigurationError(f"dss_conn_id must be a non-empty string, got {value!r}.")
    return value


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
    return dict(check_json_object(value, "trigger_params"))


def check_trigger_params_early(value: object) -> None:
    """:func:`parse_trigger_params` at construction, unless something in it is still to be rendered."""
    if not is_unrendered(value):
        if isinstance(value, dict) and any(is_template(v) for v in value.values()):
            return
        parse_trigger_params(value)


# --- numbers, flags, choices, paths ---------------------------------------------------------------


def check_positive(value: object, what: str, *, allow_none: bool = False) -> float | None:
    """Validate a user-given number of seconds (a timedelta is accepted too)."""
    if value is None and allow_none:
        return None
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise DSSConfigurationError(f"{what} must be a number of seconds or a timedelta, got {value!r}.")
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise DSSConfigurationError(f"{what} must be greater than 0 seconds, got {value!r}.")
    return float(seconds)


def check_seconds(value: object, what: str) -> float:
    """:func:`check_positive` for a value that is required (never None)."""
    return float(check_positive(value, what) or 0.0)


def check_int(value: object, what: str, minimum: int = 1) -> int:
    """An integer of at least ``minimum`` (a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DSSConfigurationError(f"{what} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_count(value: object, what: str) -> int:
    """A count: an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DSSConfigurationError(f"{what} must be an integer >= 0, got {value!r}.")
    return value


def check_bool(value: object, what: str) -> bool:
    """True or False, nothing else."""
    if not isinstance(value, bool):
        raise DSSConfigurationError(f"{what} must be True or False, got {value!r}.")
    return value


def check_deferrable(value: object) -> bool:
    """``deferrable`` as given (True or False), or ``[operators] default_deferrable`` when None.

    The setting is read when the task is built, not when a module is imported.
    """
    if value is None:
        return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
    return check_bool(value, "deferrable")


def check_choice(value: object, what: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise DSSConfigurationError(
            f"{what} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}."
        )
    return str(value)


def check_output_path(value: object) -> Path | None:
    """A file path to write to (not a directory); None/empty means "not given"."""
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise DSSConfigurationError(f"output_path must be a file path, got {value!r}.")
    path = Path(value)
    if path.exists() and path.is_dir():
        raise DSSConfigurationError(f"output_path {str(path)!r} is a directory; give a file path.")
    return path
