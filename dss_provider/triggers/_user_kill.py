"""Airflow before 3.3: tell a user's kill of a deferred task from a triggerer letting go of its trigger.

Airflow 3.3 calls ``BaseTrigger.on_kill()`` when a user marks a deferred task failed or success, or
clears it. Before 3.3 the triggerer only cancels the trigger, exactly as it does when it stops or hands
the trigger to another triggerer, so the cancel alone cannot say "abort the run". On a cancel the run
trigger therefore asks Airflow for its task instance's state, through the triggerer's supervisor (the
``GetTaskStates`` request the standard provider's external-task trigger uses, there since 3.0):

- still ``deferred``: the triggerer stopped or moved the trigger; the run is left alone (it is still
  being waited for);
- anything else (failed, success, cleared, ...) before the trigger sent its event: a user killed the
  task, and the trigger's ``on_kill`` aborts the run (``abort_on_kill``);
- the state cannot be read (no task instance, the supervisor is gone): nothing is aborted, and the task
  log of the trigger says so.
"""

from __future__ import annotations

from typing import Any

#: The state of a task instance that waits for its trigger.
DEFERRED = "deferred"


async def task_state(task_instance: Any) -> tuple[bool, str | None]:
    """``(known, state)`` of the trigger's task instance, asked of the triggerer's supervisor."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    from asgiref.sync import sync_to_async

    map_index = getattr(task_instance, "map_index", -1)
    map_index = -1 if map_index is None else int(map_index)
    states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
        dag_id=task_instance.dag_id,
        map_index=map_index,
        task_ids=[task_instance.task_id],
        run_ids=[task_instance.run_id],
    )
    key = task_instance.task_id if map_index < 0 else f"{task_instance.task_id}_{map_index}"
    by_task = (states or {}).get(task_instance.run_id) or {}
    if key not in by_task:
        return False, None
    state = by_task[key]
    return True, None if state is None else str(getattr(state, "value", state))


async def killed_by_user(task_instance: Any, log: Any, what: str) -> bool:
    """Whether the cancelled trigger's task was killed by a user (see the module docstring)."""
    if task_instance is None:
        return False
    try:
        known, state = await task_state(task_instance)
    except Exception as err:  # the supervisor may be gone when the triggerer stops: never abort then
        log.warning(
            "The trigger was cancelled and could not read its task's state (%s: %s), so %s is left "
            "running in DSS (Airflow before 3.3 does not call a trigger's on_kill)",
            type(err).__name__,
            err,
            what,
        )
        return False
    if not known or state == DEFERRED:
        return False
    log.info("The trigger was cancelled and its task is now %s: the task was killed", state or "cleared")
    return True
