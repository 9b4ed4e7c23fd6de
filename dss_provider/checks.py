"""Checks of user-given arguments, shared by operators, sensors and triggers.

Values that Airflow still has to render (Jinja strings, XComArgs) are checked only after rendering,
at the top of ``execute``; everything else fails at DAG parse time with a message naming the argument.
"""

from __future__ import annotations

from dss_provider.api import endpoints
from dss_provider.exceptions import DSSConfigurationError


def is_template(value: object) -> bool:
    """A string Airflow will still render."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def is_unrendered(value: object) -> bool:
    """Not checkable yet: a Jinja string, or an XComArg and the like (resolved at run time)."""
    if is_template(value):
        return True
    plain = (str, int, float, bool, dict, list, tuple, type(None))
    return not isinstance(value, plain)


def check_id_early(value: object, what: str) -> None:
    """Validate an identifier at construction unless it is still to be rendered."""
    if not is_unrendered(value):
        endpoints.check_id(value, what)


def check_rendered_id(value: object, what: str, hint: str = "") -> str:
    """Validate an identifier after rendering; ``None`` (or a rendered ``"None"``) gets a hint."""
    if value is None or value == "None":
        raise DSSConfigurationError(f"{what} is None (it was rendered from an empty value).{hint}")
    return endpoints.check_id(value, what)


def check_conn_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DSSConfigurationError(f"dss_conn_id must be a non-empty string, got {value!r}.")
    return value


def check_int(value: object, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DSSConfigurationError(f"{what} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise DSSConfigurationError(f"{what} must be True or False, got {value!r}.")
    return value
