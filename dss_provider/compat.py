"""Every Airflow name the provider and its example DAGs use, for Airflow 3.0 to 3.3, from one place.

Names come from ``apache-airflow-providers-common-compat`` (``airflow.providers.common.compat.sdk``)
where it carries them: it tries the newest import path first and, for ``ResumableJobMixin``, hands
out a stand-in below Airflow 3.3. The few names it does not carry are imported here with their own
fallback. The feature probes below (what this Airflow can do) are the only place the provider asks;
no other module checks Airflow versions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION

from dss_provider import check_airflow_version
from dss_provider._lazy import lazy_getattr

check_airflow_version(AIRFLOW_VERSION)

# DAG, task and Param are not here: only the example DAGs use them (from common-compat), and importing
# ``task`` loads the standard provider's decorators (DeprecatedImportWarning on 3.1) at DAG-parse time.
from airflow.providers.common.compat.sdk import (  # noqa: E402
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    Connection,
    Context,
    PokeReturnValue,
    ResumableJobMixin,
    TaskDeferred,
    XCom,
    conf,
    mask_secret,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.connection import get_async_connection
    from airflow.providers.common.compat.sdk import TaskInstanceKey
    from airflow.providers.common.compat.triggers import BaseEventTrigger
    from airflow.sdk import Asset, AssetWatcher
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    HAS_DECLARATIVE_CONN_FIELDS: bool
    HAS_SHARED_TRIGGER_STREAMS: bool
    HAS_TRIGGER_ON_KILL: bool

__all__ = [
    "AIRFLOW_VERSION",
    "HAS_DECLARATIVE_CONN_FIELDS",
    "HAS_SHARED_TRIGGER_STREAMS",
    "HAS_TASK_STATE_STORE",
    "HAS_TRIGGER_ON_KILL",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Asset",
    "AssetWatcher",
    "BaseEventTrigger",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "PokeReturnValue",
    "ResumableJobMixin",
    "TaskDeferred",
    "TaskInstanceKey",
    "TriggerEvent",
    "XCom",
    "amask_secret",
    "conf",
    "durable_kwargs",
    "get_async_connection",
    "mask_secret",
    "note_durable_unavailable",
    "note_trigger_on_kill_unavailable",
]

log = logging.getLogger(__name__)

# --- feature probes ------------------------------------------------------------------------------

#: The task state store and the real ``ResumableJobMixin`` (Airflow 3.3): ``durable`` reattaches a
#: retry to the previous try's run. Below 3.3 common-compat's stand-in submits a new job every try.
HAS_TASK_STATE_STORE: bool = ResumableJobMixin.__module__.startswith("airflow.sdk")

#: The names below are imported on first use: ``airflow.triggers.base`` alone costs 12 ms at DAG-parse
#: time, and operators and sensors only need it when they defer.
_LAZY = {
    "airflow.triggers.base": ("BaseTrigger", "TriggerEvent"),
    "airflow.providers.common.compat.triggers": ("BaseEventTrigger",),
    # Event-driven scheduling (Airflow 3.0+); common-compat does not carry AssetWatcher.
    "airflow.sdk": ("Asset", "AssetWatcher"),
    "airflow.providers.common.compat.connection": ("get_async_connection",),
    "airflow.providers.common.compat.sdk": ("TaskInstanceKey",),
}


def _has_trigger_on_kill() -> bool:
    """Whether ``BaseTrigger`` has ``async on_kill()`` (Airflow 3.3).

    The triggerer calls it when a user marks a deferred task failed or success, or clears it.
    """
    from airflow.triggers.base import BaseTrigger

    return callable(getattr(BaseTrigger, "on_kill", None))


def _reads_declarative_conn_fields() -> bool:
    """Whether the providers manager reads the declarative connection form (Airflow 3.2).

    From 3.2 it builds the form from the ``conn-fields`` and ``ui-field-behaviour`` of the provider
    info; before, only from the hook's ``get_connection_form_widgets()`` and ``get_ui_field_behaviour()``.
    """
    import importlib.util

    spec = importlib.util.find_spec("airflow.providers_manager")
    if spec is None or not spec.origin:
        return False
    with open(spec.origin, encoding="utf-8") as source:
        return '"conn-fields"' in source.read()


def _has_shared_trigger_streams() -> bool:
    """Whether triggers can share one poll loop (``airflow.triggers.shared_stream``, Airflow 3.3).

    Event-driven scheduling (``AssetWatcher``) with many watchers uses it.
    """
    import importlib.util

    return importlib.util.find_spec("airflow.triggers.shared_stream") is not None


_PROBES = {
    "HAS_TRIGGER_ON_KILL": _has_trigger_on_kill,
    "HAS_DECLARATIVE_CONN_FIELDS": _reads_declarative_conn_fields,
    "HAS_SHARED_TRIGGER_STREAMS": _has_shared_trigger_streams,
}


__getattr__ = lazy_getattr(globals(), _LAZY, _PROBES)


async def amask_secret(secret: str) -> None:
    """Register ``secret`` with the secrets masker from async code (``amask_secret`` is Airflow 3.3)."""
    try:
        from airflow.sdk.log import amask_secret as _amask_secret
    except ImportError:
        from asgiref.sync import sync_to_async

        await sync_to_async(mask_secret)(secret)
        return
    await _amask_secret(secret)


# --- what an older Airflow cannot do, said once in the task log ---------------------------------


def durable_kwargs(durable: bool) -> dict[str, bool]:
    """``durable=`` for ``ResumableJobMixin`` where it acts (3.3), else nothing.

    Below 3.3, common-compat's stand-in would warn at every DAG parse; :func:`note_durable_unavailable`
    says it once per try in the task log instead.
    """
    return {"durable": durable} if HAS_TASK_STATE_STORE else {}


def note_durable_unavailable(task_log: Any, durable: bool) -> None:
    """Say in the task log, once per try, that ``durable`` cannot act on this Airflow (below 3.3)."""
    if not durable or HAS_TASK_STATE_STORE:
        return
    task_log.warning(
        "durable=True needs the task state store of Airflow 3.3; this is Airflow %s, so a retry cannot "
        "reattach to this try's DSS run and fires a new one; a worker that is still alive when its task "
        "is killed aborts this try's run first (abort_on_kill). Pass durable=False to silence this.",
        AIRFLOW_VERSION,
    )


def note_trigger_on_kill_unavailable(task_log: Any, abort_on_kill: bool) -> None:
    """Say in the task log, when deferring, how a kill is handled without ``BaseTrigger.on_kill`` (< 3.3)."""
    if not abort_on_kill or _has_trigger_on_kill():
        return
    task_log.info(
        "Airflow %s does not call a trigger's on_kill (3.3): instead, when the triggerer cancels the "
        "trigger, the trigger reads this task's state and aborts the DSS run if the task was marked failed "
        "or success or cleared meanwhile (abort_on_kill); a triggerer restart leaves the run alone.",
        AIRFLOW_VERSION,
    )
