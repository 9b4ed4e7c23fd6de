"""Extra link from a run task to its DSS scenario run page.

Airflow 3 computes links on the worker when the task ends and stores them as XCom; the API server only
reads that XCom. The run operator pushes ``run_url`` as soon as it knows it (the scenario's run list
right after the fire, the run's own page once the fire became a run), so a failed or killed task still
links to its run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_provider.compat import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from dss_provider.compat import BaseOperator, TaskInstanceKey

#: The XCom key the run operator pushes the run's DSS page under (public interface: keep the name).
RUN_URL_XCOM_KEY = "run_url"


class DSSScenarioRunLink(BaseOperatorLink):
    """``<DSS URL>/projects/<K>/scenarios/<S>/runs/list/<run id>``, read from the ``run_url`` XCom."""

    name = "DSS scenario run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The DSS URL of the task's scenario run ('' before the run is known)."""
        url = XCom.get_value(key=RUN_URL_XCOM_KEY, ti_key=ti_key)
        return str(url) if url else ""
