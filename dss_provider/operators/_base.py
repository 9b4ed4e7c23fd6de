"""The base class of the scenario operators: the scenario, the connection, and their validation."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from dss_provider.checks import check_conn_id, check_id_early, is_template
from dss_provider.compat import BaseOperator
from dss_provider.exceptions import DSSTarget
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.hooks.dss import DSSHook
from dss_provider.protocol import endpoints
from dss_provider.protocol.models import run_url


class _DSSScenarioOperator(BaseOperator):
    """What every scenario operator shares: the scenario, the connection, and their validation."""

    ui_color = "#2AB1AC"
    ui_fgcolor = "#FFFFFF"

    def __init__(
        self, *, project_key: str, scenario_id: str, dss_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check_id_early(project_key, "project_key")
        check_id_early(scenario_id, "scenario_id")
        if not is_template(dss_conn_id):
            check_conn_id(dss_conn_id)
        self.project_key = project_key
        self.scenario_id = scenario_id
        self.dss_conn_id = dss_conn_id

    @cached_property
    def hook(self) -> DSSHook:
        return DSSHook(self.dss_conn_id)

    def _check_rendered(self) -> None:
        """Validate the rendered template fields and the connection, before anything is sent to DSS."""
        self.project_key = endpoints.check_id(self.project_key, "project_key")
        self.scenario_id = endpoints.check_id(self.scenario_id, "scenario_id")
        self.dss_conn_id = check_conn_id(self.dss_conn_id)
        self.hook.config  # noqa: B018 - a missing connection or one of another type fails here

    def _target(self, run_id: str | None = None, **ids: Any) -> DSSTarget:
        return DSSTarget(self.project_key, self.scenario_id, run_id, **ids)

    def _url(self, run_id: str | None) -> str | None:
        return run_url(self.hook.config.web_url, self.project_key, self.scenario_id, run_id)

    def _last_finished_run_id(self) -> str:
        run = self.hook.get_last_finished_run(self.project_key, self.scenario_id)
        run_id = str(run["runId"])
        self.log.info(
            "No run_id given: using the last finished run of %s, %s", self._target().describe(), run_id
        )
        return run_id
