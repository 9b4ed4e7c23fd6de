"""The old home of the operators' helpers, kept importable: argument checks live in
:mod:`dss_provider.checks`, XCom/log/file output in :mod:`dss_provider.operators.task_output`, the step
log in :mod:`dss_provider.operators.progress`."""

from __future__ import annotations

from dss_provider.checks import (
    check_choice,
    check_count,
    check_optional_id,
    check_optional_id_early,
    check_output_path,
    check_trigger_params_early,
    parse_trigger_params,
)
from dss_provider.operators._run_base import IF_ALREADY_RUNNING
from dss_provider.operators.progress import StepProgress
from dss_provider.operators.task_output import (
    DEFAULT_LOG_TAIL_LINES,
    MAX_TAIL_CHARS,
    push_xcom,
    tail,
    write_output,
)
from dss_provider.protocol.models import step_warning

__all__ = [
    "DEFAULT_LOG_TAIL_LINES",
    "IF_ALREADY_RUNNING",
    "MAX_TAIL_CHARS",
    "StepProgress",
    "check_choice",
    "check_count",
    "check_optional_id",
    "check_optional_id_early",
    "check_output_path",
    "check_trigger_params_early",
    "parse_trigger_params",
    "push_xcom",
    "step_warning",
    "tail",
    "write_output",
]
