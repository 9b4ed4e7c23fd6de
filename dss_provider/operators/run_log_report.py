"""DSSGetScenarioRunLogOperator and DSSGetScenarioRunReportOperator.

Import them from :mod:`dss_provider.operators.scenario`.

XCom values stay small: content goes to ``output_path`` when given, and only a bounded tail (log) or a
summary (report) is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dss_provider.checks import check_count, check_optional_id, check_optional_id_early, check_output_path
from dss_provider.compat import Context
from dss_provider.exceptions import DSSBadRequestError, DSSConfigurationError
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.operators._base import _DSSScenarioOperator
from dss_provider.operators.junit import log_report, parse_junit
from dss_provider.operators.task_output import tail, write_output
from dss_provider.protocol import endpoints

DEFAULT_LOG_OPERATOR_TAIL_LINES = 200
#: Characters of log returned over XCom when no ``output_path`` is given (the end of the log).
DEFAULT_MAX_XCOM_CHARS = 32 * 1024


class _DSSRunContentOperator(_DSSScenarioOperator):
    """A run's content (log or report): which run, which step, and where the content goes."""

    template_fields: Sequence[str] = (
        "project_key",
        "scenario_id",
        "run_id",
        "step_id",
        "output_path",
        "dss_conn_id",
    )

    def __init__(
        self,
        *,
        project_key: str,
        scenario_id: str,
        run_id: str | None = None,
        step_id: str | None = None,
        output_path: str | None = None,
        dss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(project_key=project_key, scenario_id=scenario_id, dss_conn_id=dss_conn_id, **kwargs)
        check_optional_id_early(run_id, "run_id")
        check_optional_id_early(step_id, "step_id")
        self.run_id = run_id
        self.step_id = step_id
        self.output_path = output_path

    def _resolve(self) -> tuple[str, str | None]:
        """Validate the rendered fields; the run id (the last finished run when none was given)."""
        self._check_rendered()
        run_id = check_optional_id(self.run_id, "run_id")
        self.step_id = check_optional_id(self.step_id, "step_id")
        check_output_path(self.output_path)
        return run_id or self._last_finished_run_id(), self.step_id

    def _base_result(self, run_id: str, step_id: str | None) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "scenario_id": self.scenario_id,
            "run_id": run_id,
            "step_id": step_id,
        }


class DSSGetScenarioRunLogOperator(_DSSRunContentOperator):
    """Fetch the log of a scenario run (or of one step), into a file and the task log.

    :param run_id: the run (templated; default: the scenario's last finished run).
    :param step_id: only this step's log (templated).
    :param output_path: write the whole log to this file (templated); the return value then holds the
        path and size instead of log text.
    :param log_tail_lines: lines of the end of the log written into the task log (0: none).
    :param max_xcom_chars: without ``output_path``, at most this many characters (the end of the log)
        are returned, with ``truncated`` set when the log was longer.

    Returns ``{project_key, scenario_id, run_id, step_id, size}`` plus ``path`` (with ``output_path``)
    or ``content`` and ``truncated`` (without).
    """

    def __init__(
        self,
        *,
        log_tail_lines: int = DEFAULT_LOG_OPERATOR_TAIL_LINES,
        max_xcom_chars: int = DEFAULT_MAX_XCOM_CHARS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.log_tail_lines = check_count(log_tail_lines, "log_tail_lines")
        self.max_xcom_chars = check_count(max_xcom_chars, "max_xcom_chars")

    def execute(self, context: Context) -> dict[str, Any]:
        """Fetch the run's log (one step's with ``step_id``) and log its tail; what was fetched."""
        run_id, step_id = self._resolve()
        target = self._target(run_id, step_id=step_id)
        text = self.hook.get_run_log(self.project_key, self.scenario_id, run_id, step_id)
        data = text.encode("utf-8")
        result = {**self._base_result(run_id, step_id), "size": len(data)}
        kept, cut = tail(text, self.log_tail_lines)
        if self.log_tail_lines:
            self.log.info(
                "DSS log of %s (%d bytes%s):\n%s",
                target.describe(),
                len(data),
                f", last {self.log_tail_lines} lines" if cut else "",
                kept or "(empty)",
            )
        path = check_output_path(self.output_path)
        if path is not None:
            write_output(path, data)
            self.log.info("Wrote the DSS log of %s to %s (%d bytes)", target.describe(), path, len(data))
            return {**result, "path": str(path)}
        truncated = len(text) > self.max_xcom_chars
        if truncated:
            self.log.warning(
                "The log of %s is %d characters; returning the last %d (set output_path to keep all of it)",
                target.describe(),
                len(text),
                self.max_xcom_chars,
            )
        content = text[len(text) - self.max_xcom_chars :] if truncated else text
        return {**result, "content": content, "truncated": truncated}


class DSSGetScenarioRunReportOperator(_DSSRunContentOperator):
    """Fetch the JUnit XML report of a test scenario's run (or of one step) and summarise it.

    Fails with :class:`~dss_provider.exceptions.DSSConfigurationError` when the scenario is not marked
    as a test in DSS (only test scenarios have reports).

    :param run_id: the run (templated; default: the scenario's last finished run).
    :param step_id: only this step's report (templated).
    :param output_path: write the XML to this file (templated).

    Returns ``{tests, failures, errors, skipped, path, size, project_key, scenario_id, run_id, step_id}``
    (``path`` None without ``output_path``); the XML itself never goes to XCom.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        """Fetch the test run's JUnit report (one step's with ``step_id``) and log its results."""
        self._check_rendered()
        self._require_test_scenario()
        run_id, step_id = self._resolve()
        target = self._target(run_id, step_id=step_id)
        if step_id:
            request = endpoints.get_step_run_report(self.project_key, self.scenario_id, run_id, step_id)
        else:
            request = endpoints.get_run_report(self.project_key, self.scenario_id, run_id)
        try:
            content = self.hook.execute(request)
        except DSSBadRequestError as err:
            raise DSSConfigurationError(
                f"DSS refused the JUnit report of {target.describe()}: {err}"
            ) from None
        content = content if isinstance(content, bytes) else str(content).encode("utf-8")
        totals, problems = parse_junit(content, target)
        log_report(self.log, totals, problems, target)
        path = check_output_path(self.output_path)
        if path is not None:
            write_output(path, content)
            self.log.info(
                "Wrote the JUnit report of %s to %s (%d bytes)", target.describe(), path, len(content)
            )
        return {
            **totals,
            "path": str(path) if path is not None else None,
            "size": len(content),
            **self._base_result(run_id, step_id),
        }

    def _require_test_scenario(self) -> None:
        status = self.hook.get_scenario(self.project_key, self.scenario_id).get_status().get_raw()
        if status.get("markedAsTest") is False:
            raise DSSConfigurationError(
                f"{self._target().describe()} is not marked as a test scenario in DSS, so its runs have no "
                "JUnit report. Mark it as a test (scenario settings) or fetch its log with "
                "DSSGetScenarioRunLogOperator."
            )
