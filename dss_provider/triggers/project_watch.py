"""One scenario-list poll per project answers every run trigger of that project in an event loop.

A lone :class:`~dss_provider.triggers.scenario_run.DSSScenarioRunTrigger` polls its run's details on its
own :class:`~dss_provider.protocol.polling.PollSchedule`. When two or more of them wait for runs of the same
project on the same connection in one triggerer (mapped tasks, many DAGs), they share a
:class:`ProjectWatch` instead: one ``GET /projects/{K}/scenarios/`` (each item says whether the
scenario is ``running`` and since when, ``start``) tells every one of them whether its run is still
going. The list is asked when the earliest of their schedules is due, so each trigger sees its run end
as soon as its own schedule would have, for one request instead of one per trigger. A trigger asks
its run's details itself only when the list says its run ended (to build the event), when the list
request failed (its own failure budget then applies), or at least every ``max_poll_interval``.

A run is taken for still going while its scenario is listed ``running`` with a ``start`` within
:data:`SAME_START_MS` of the run's own; anything else only makes the trigger look at the run itself,
so a scenario list that disagrees with the run never ends a wait wrongly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from dss_provider.exceptions import DSSError
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.protocol import endpoints
from dss_provider.protocol.errors import error_for_bad_body
from dss_provider.protocol.polling import PollSchedule

log = logging.getLogger(__name__)

#: A listed scenario start this close to the run's start (ms) is the same run.
SAME_START_MS = 5_000

Wake = Literal["ended", "check"]


@dataclass(eq=False, slots=True)
class _Waiter:
    scenario_id: str
    start_ms: int
    schedule: PollSchedule
    started_at: float
    #: When the list should be asked for this waiter (never after ``check_by``).
    due: float
    check_by: float
    hook: DSSAsyncHook
    woken: asyncio.Future[Wake] = field(repr=False)


class ProjectWatch:
    """The shared list poll of one (event loop, connection, project); get it with :func:`watch_for`."""

    def __init__(self, dss_conn_id: str, project_key: str) -> None:
        self.dss_conn_id = dss_conn_id
        self.project_key = project_key
        #: Triggers of the project waiting in this loop (joined, not yet left).
        self.members = 0
        self._waiters: set[_Waiter] = set()
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        #: When the sleeping watch wakes up by itself (inf while it polls: it plans again after).
        self._wakes_at = math.inf
        #: List requests made (for tests and benchmarks).
        self.polls = 0

    @property
    def shared(self) -> bool:
        """More than one trigger of the project waits here: polling the list pays off."""
        return self.members > 1

    def join(self) -> None:
        """A trigger of the project starts waiting."""
        self.members += 1

    def leave(self) -> None:
        """A trigger of the project is done."""
        self.members -= 1

    def wait(
        self,
        hook: DSSAsyncHook,
        scenario_id: str,
        start_ms: int,
        schedule: PollSchedule,
        started_at: float,
        delay: float,
        check_by: float,
    ) -> asyncio.Future[Wake]:
        """A future to await: ``"ended"`` when the list shows the run ended, or ``"check"``.

        ``"check"``: the trigger should look at the run itself (``check_by`` passed, or the list request
        failed). Cancelling the future leaves the watch. The list is asked through the hook of a waiting
        trigger (the watch holds no client of its own). A future rather than a coroutine: a waiting
        trigger holds no frame here.
        """
        loop = asyncio.get_running_loop()
        now = time.time()
        check_by = max(check_by, now)
        woken: asyncio.Future[Wake] = loop.create_future()
        due = min(now + delay, check_by)
        self._waiters.add(_Waiter(scenario_id, start_ms, schedule, started_at, due, check_by, hook, woken))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        elif due < self._wakes_at:
            self._changed.set()  # due before the sleeping watch would look: plan again
        return woken

    async def _run(self) -> None:
        try:
            while (hook := await self._sleep_until_due()) is not None:
                await self._poll(hook)
        except Exception:  # never leave a trigger waiting on a dead watch
            log.exception("The scenario list watch of project %s failed", self.project_key)
            self._wake_all("check")

    def _next_due(self) -> float:
        """The earliest ``due`` of the waiters; those gone (woken or cancelled) are dropped."""
        due = math.inf
        gone = []
        for waiter in self._waiters:
            if waiter.woken.done():
                gone.append(waiter)
            elif waiter.due < due:
                due = waiter.due
        for waiter in gone:
            self._waiters.discard(waiter)
        return due

    async def _sleep_until_due(self) -> DSSAsyncHook | None:
        """Sleep until a waiter is due; the hook to ask the list with (None: nobody waits any more)."""
        while True:
            due = self._next_due()
            if not self._waiters:
                return None
            now = time.time()
            if due <= now:
                return next(iter(self._waiters)).hook
            self._changed.clear()
            self._wakes_at = due
            try:
                await asyncio.wait_for(self._changed.wait(), due - now)
            except asyncio.TimeoutError:
                pass
            finally:
                self._wakes_at = math.inf

    async def _poll(self, hook: DSSAsyncHook) -> None:
        self.polls += 1
        request = _list_request(self.project_key)
        try:
            running = _running_starts(request, await hook.execute(request))
        except DSSError as err:
            log.warning(
                "Listing the scenarios of %s failed (%s); each run is asked instead", self.project_key, err
            )
            self._wake_all("check")
            return
        now = time.time()
        for waiter in list(self._waiters):
            listed = running.get(waiter.scenario_id)
            if listed is None or abs(listed - waiter.start_ms) > SAME_START_MS:
                _wake(waiter, "ended")
            elif now >= waiter.check_by:
                _wake(waiter, "check")
            else:
                waiter.due = min(now + waiter.schedule.next_delay(now - waiter.started_at), waiter.check_by)

    def _wake_all(self, why: Wake) -> None:
        for waiter in list(self._waiters):
            _wake(waiter, why)


def _wake(waiter: _Waiter, why: Wake) -> None:
    if not waiter.woken.done():
        waiter.woken.set_result(why)


def _list_request(project_key: str) -> endpoints.ApiRequest:
    """The scenario list, asked as text: :func:`_running_starts` decodes it item by item."""
    return dataclasses.replace(endpoints.list_scenarios(project_key), response="text")


def _listed(item: dict[str, Any]) -> tuple[Any, Any, Any]:
    """What a listed scenario says (id, running, start): the decoder keeps no item's whole dict."""
    return item.get("id"), item.get("running"), item.get("start")


def _running_starts(request: endpoints.ApiRequest, text: str) -> dict[str, int]:
    """Scenario id -> start (ms) of the scenarios the list shows running.

    The thousands of items of a big project are read one by one into the three facts needed (the
    list's peak memory is one item, not the whole list of dicts).
    """
    try:
        items = json.loads(text, object_hook=_listed) if text.strip() else []
    except ValueError:
        raise error_for_bad_body(request, 200, text, "a body that is not valid JSON") from None
    out: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, tuple) and item[1] and item[0]:
            try:
                out[str(item[0])] = int(item[2] or 0)
            except (TypeError, ValueError):
                continue
    return out


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], ProjectWatch]] = (
    weakref.WeakKeyDictionary()
)


def watch_for(dss_conn_id: str, project_key: str) -> ProjectWatch:
    """The watch of a project on the running loop (made on first use, dropped when nobody is left)."""
    loop = asyncio.get_running_loop()
    watches = _WATCHES.setdefault(loop, {})
    key = (dss_conn_id, project_key)
    watch = watches.get(key)
    if watch is None:
        watch = watches[key] = ProjectWatch(dss_conn_id, project_key)
    return watch


def release_watch(watch: ProjectWatch) -> None:
    """Leave a watch; the last trigger to leave drops it."""
    watch.leave()
    if watch.members <= 0:
        watches = _WATCHES.get(asyncio.get_running_loop(), {})
        if watches.get((watch.dss_conn_id, watch.project_key)) is watch:
            del watches[(watch.dss_conn_id, watch.project_key)]
