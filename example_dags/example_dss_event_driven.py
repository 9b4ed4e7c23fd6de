"""Event-driven: run a DAG each time a scenario of DSS project DEMO finishes, whoever started the run.

The asset ``dss_demo_scenario_runs`` is watched by :class:`DSSScenarioRunEventTrigger` in the triggerer:
every scenario run of project DEMO that finishes with SUCCESS or WARNING (started by a DSS time trigger,
from the DSS UI, through the API or by another DAG) becomes one asset event whose ``extra["payload"]`` is
the run dict (the keys of the run operator's XCom). The DAG ``dss_event_driven`` is scheduled on the
asset and reads those run dicts from ``triggering_asset_events``. Runs that finish within the same
scheduler loop arrive together, as several events of one DAG run.

Watchers of the same connection, project and poll interval share one poll of DSS (Airflow 3.3); the
watcher's cursor is kept in the asset state store, so a triggerer restart neither replays nor loses runs.
Triggered by hand (``airflow dags test``), the DAG has no asset event and reports that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from dss_provider.compat import Asset, AssetWatcher
from dss_provider.triggers.run_events import DSSScenarioRunEventTrigger

DSS_DEMO_RUNS = Asset(
    "dss_demo_scenario_runs",
    watchers=[
        AssetWatcher(
            name="dss_demo_scenario_runs_watcher",
            trigger=DSSScenarioRunEventTrigger(
                project_key="DEMO",
                scenario_ids=None,  # every scenario of the project
                outcomes=["SUCCESS", "WARNING"],
                poll_interval=5,
            ),
        )
    ],
)

with DAG(
    dag_id="dss_event_driven",
    description="Runs once per finished DSS run of project DEMO (SUCCESS or WARNING)",
    schedule=[DSS_DEMO_RUNS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "example", "event-driven"],
) as dag:

    @task
    def process_dss_runs(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One line per DSS run that triggered this DAG run; the run dicts."""
        # The DAG is scheduled on one asset: every triggering event is a DSS run of DSS_DEMO_RUNS.
        events = [event for events in (triggering_asset_events or {}).values() for event in events]
        runs = [dict(event.extra["payload"]) for event in events if "payload" in (event.extra or {})]
        if not runs:
            print("No DSS run triggered this DAG run (it was started by hand).")
        for run in runs:
            print(
                f"DSS run {run['project_key']}.{run['scenario_id']} {run['run_id']} finished "
                f"{run['outcome']} in {run['duration']}s (trigger {run['trigger_id']}): {run['url']}"
            )
        return runs

    process_dss_runs()
