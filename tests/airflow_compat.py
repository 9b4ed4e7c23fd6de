"""Airflow names only the tests use, for Airflow 3.0 to 3.3 (the provider's own are in dss_provider.compat).

Which features a release has is asked of ``dss_provider.compat`` (one probe per feature); this module only
finds the test tools where each release keeps them.
"""

from __future__ import annotations

from typing import Any

try:  # trigger kwargs go through the SDK's serde from Airflow 3.2
    from airflow.sdk.serde import deserialize, serialize
except ImportError:  # 3.0, 3.1
    from airflow.serialization.serde import deserialize, serialize  # type: ignore[no-redef]

try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # 3.0, 3.1
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef,attr-defined]

try:
    from airflow.sdk.module_loading import import_string
except ImportError:  # 3.0
    from airflow.utils.module_loading import import_string  # type: ignore[no-redef]

import pytest

from dss_provider import compat

needs_task_state_store = pytest.mark.skipif(
    not compat.HAS_TASK_STATE_STORE,
    reason=f"durable needs the task state store of Airflow 3.3 (this is {compat.AIRFLOW_VERSION})",
)


needs_trigger_on_kill = pytest.mark.skipif(
    not compat.HAS_TRIGGER_ON_KILL,
    reason=f"the triggerer calls a trigger's on_kill from Airflow 3.3 (this is {compat.AIRFLOW_VERSION})",
)


needs_shared_trigger_streams = pytest.mark.skipif(
    not compat.HAS_SHARED_TRIGGER_STREAMS,
    reason=f"shared trigger streams are Airflow 3.3 (this is {compat.AIRFLOW_VERSION})",
)


def dag_bag(folder: Any, bundle_name: str) -> Any:
    """A DagBag of ``folder`` parsed as the bundle ``bundle_name`` (the name is a 3.2+ argument)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # 3.0, 3.1
        from airflow.models.dagbag import DagBag
    try:
        return DagBag(dag_folder=str(folder), bundle_path=folder, bundle_name=bundle_name)
    except TypeError:
        return DagBag(dag_folder=str(folder), bundle_path=folder)


__all__ = [
    "AirflowRescheduleException",
    "dag_bag",
    "deserialize",
    "import_string",
    "needs_shared_trigger_streams",
    "needs_task_state_store",
    "needs_trigger_on_kill",
    "serialize",
]
