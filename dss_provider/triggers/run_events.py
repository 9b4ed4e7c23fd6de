"""``DSSScenarioRunEventTrigger``: an asset watcher that sends one event per finished DSS scenario run.

Use it in an ``AssetWatcher`` to schedule DAGs on DSS runs, whoever started them (DSS time triggers,
the UI, the API, other DAGs)::

    sales = Asset(
        "dss://DEMO/BUILD_SALES",
        watchers=[AssetWatcher(name="build_sales_runs", trigger=DSSScenarioRunEventTrigger(
            project_key="DEMO", scenario_ids=["BUILD_SALES"]))],
    )

The event payload is the provider's run dict (the keys of the run operator's XCom; ``steps`` is empty:
the watcher reads run summaries only). The downstream DAG finds it in
``triggering_asset_events[asset][i].extra["payload"]``; several runs finishing in the same scheduler
loop arrive as several events of one DAG run.

Semantics:

- No replay: runs that finished before the watcher first started are not sent.
- At most once: a cursor (per scenario, the newest finished run passed) is written *before* each
  event is handed to Airflow. On Airflow 3.3 the cursor lives in the asset state store, so a
  triggerer restart or a move to another triggerer resumes from it: nothing is sent twice and runs
  that finished in between are sent. Where there is no asset state store (Airflow 3.0 to 3.2), the
  cursor is in memory: a restarted watcher starts afresh, so runs that finish while no triggerer runs
  it are missed (never repeated).
- Runs shorter than ``poll_interval`` are not missed: each poll reads the finished runs, not the
  current state.
- Shared poll (Airflow 3.3): watchers with the same connection, project and poll interval share one
  poll loop (``shared_stream_key``), so DSS sees the same requests for 1 watcher or 100; see
  :mod:`dss_provider.triggers._run_poll` for the requests per interval. On 3.0 to 3.2 each watcher
  polls on its own (``run()``), with the same results.
- Bad input never crashes the watcher: an unknown project or scenario, a bad key, a scenario deleted
  while watched or DSS being down are logged as errors in the triggerer log, and polling backs off
  (doubling up to 10 minutes) instead of restarting in a loop.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import AsyncIterator, Hashable
from typing import Any

from dss_provider.checks import check_conn_id
from dss_provider.compat import BaseEventTrigger, TriggerEvent
from dss_provider.exceptions import DSSConfigurationError, DSSError
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.protocol import endpoints
from dss_provider.protocol.models import RunOutcome, summarize_run
from dss_provider.protocol.polling import check_positive
from dss_provider.triggers._run_cursor import RunCursor
from dss_provider.triggers._run_poll import (
    PAGE_SIZES,
    REQUEST_RETRIES,
    Interest,
    ProjectPoll,
    ProjectRunPoller,
    check_interest,
)

DEFAULT_OUTCOMES = ("SUCCESS", "WARNING")
DEFAULT_EVENT_POLL_INTERVAL = 30.0
#: Largest page read to catch up after a restart (older runs are reported as skipped).
CATCH_UP_LIMIT = 1000
_KEY_PREFIX = "dss_provider.run_events"

# Who watches what, per shared stream key, in this triggerer process: the shared poll asks DSS about
# the union (a stream's kwargs come from one trigger only). Filters register before their first await.
_INTERESTS: dict[Hashable, dict[int, Interest]] = {}
_TOKENS = itertools.count(1)


def _union(key: Hashable) -> Interest:
    members = _INTERESTS.get(key) or {}
    union: set[str] = set()
    for interest in members.values():
        if interest is None:
            return None
        union |= interest
    return frozenset(union)


def _check_outcomes(outcomes: object) -> list[str]:
    if isinstance(outcomes, str) or not isinstance(outcomes, (list, tuple, set, frozenset)) or not outcomes:
        raise DSSConfigurationError(
            f"outcomes must be a non-empty list of DSS outcomes (SUCCESS, WARNING, FAILED, ABORTED), "
            f"got {outcomes!r}."
        )
    try:
        return sorted({RunOutcome.parse(o).value for o in outcomes})
    except ValueError as err:
        raise DSSConfigurationError(f"outcomes: {err}.") from None


class DSSScenarioRunEventTrigger(BaseEventTrigger):
    """Send one event (the run dict) per DSS scenario run that finishes with one of ``outcomes``.

    :param project_key: the DSS project key.
    :param scenario_ids: the scenarios to watch; None watches every scenario of the project.
    :param outcomes: the outcomes that send an event (default SUCCESS and WARNING).
    :param dss_conn_id: the ``dataiku_dss`` connection id.
    :param poll_interval: seconds between polls of DSS (default 30).
    """

    def __init__(
        self,
        project_key: str,
        scenario_ids: list[str] | None = None,
        outcomes: list[str] | tuple[str, ...] = DEFAULT_OUTCOMES,
        dss_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_EVENT_POLL_INTERVAL,
    ) -> None:
        super().__init__()
        self.project_key = endpoints.check_id(project_key, "project_key")
        if scenario_ids is not None and (isinstance(scenario_ids, str) or not isinstance(scenario_ids, list)):
            raise DSSConfigurationError(
                f"scenario_ids must be a list of scenario ids or None (every scenario), got {scenario_ids!r}."
            )
        self._interest = check_interest(scenario_ids)
        self.scenario_ids = None if self._interest is None else sorted(self._interest)
        self.outcomes = _check_outcomes(outcomes)
        self.dss_conn_id = check_conn_id(dss_conn_id)
        self.poll_interval = float(check_positive(poll_interval, "poll_interval") or 0.0)
        self._hook: DSSAsyncHook | None = None
        self._cursor: RunCursor | None = None

    # --- identity ------------------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and JSON-able kwargs (never the API key)."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {
            "project_key": self.project_key,
            "scenario_ids": self.scenario_ids,
            "outcomes": list(self.outcomes),
            "dss_conn_id": self.dss_conn_id,
            "poll_interval": self.poll_interval,
        }

    @staticmethod
    def _stream_key(dss_conn_id: str, project_key: str, poll_interval: float) -> Hashable:
        return (_KEY_PREFIX, dss_conn_id, project_key, float(poll_interval))

    def shared_stream_key(self) -> Hashable | None:
        """Watchers of one connection, project and poll interval share one poll of DSS."""
        return self._stream_key(self.dss_conn_id, self.project_key, self.poll_interval)

    def _describe(self) -> str:
        which = ", ".join(self.scenario_ids) if self.scenario_ids else "every scenario"
        return f"DSS project {self.project_key} ({which}; outcomes {', '.join(self.outcomes)})"

    @property
    def cursor_key(self) -> str:
        """The asset state store key of this watcher's cursor (one per watched set, not per interval)."""
        ident = json.dumps([self.dss_conn_id, self.project_key, self.scenario_ids, self.outcomes])
        return f"{_KEY_PREFIX}.cursor.{hashlib.sha256(ident.encode()).hexdigest()[:16]}"

    # --- the streams ---------------------------------------------------------------------------

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The shared poll of one project: a :class:`ProjectPoll` per interval, for every subscriber."""
        conn_id = str(kwargs.get("dss_conn_id") or DEFAULT_CONN_ID)
        project_key = str(kwargs["project_key"])
        interval = float(kwargs.get("poll_interval") or DEFAULT_EVENT_POLL_INTERVAL)
        key = cls._stream_key(conn_id, project_key, interval)
        poller = ProjectRunPoller(conn_id, project_key, interval, lambda: _union(key))
        async for poll in poller.stream():
            yield poll

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the shared poll."""
        key = self.shared_stream_key()
        token = next(_TOKENS)
        _INTERESTS.setdefault(key, {})[token] = self._interest
        try:
            async for event in self._events(shared_stream):
                yield event
        finally:
            members = _INTERESTS.get(key)
            if members is not None:
                members.pop(token, None)
                if not members:
                    del _INTERESTS[key]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll on its own (Airflow 3.0 to 3.2, or no shared streams): the same events."""
        poller = ProjectRunPoller(
            self.dss_conn_id, self.project_key, self.poll_interval, lambda: self._interest
        )
        async for event in self._events(poller.stream()):
            yield event

    async def cleanup(self) -> None:
        """Release the trigger's hook (the shared client closes with its last user)."""
        hook, self._hook = self._hook, None
        if hook is not None:
            try:
                await hook.release()
            except Exception:
                self.log.warning("Could not release the DSS client of %s", self._describe(), exc_info=True)

    # --- events --------------------------------------------------------------------------------

    async def _events(self, polls: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        cursor = await self._load_cursor()
        self.log.info(
            "Watching %s every %gs%s",
            self._describe(),
            self.poll_interval,
            "" if cursor.fresh else " (resuming from the stored cursor)",
        )
        async for poll in polls:
            try:
                batch = await self._apply(poll, cursor)
            except Exception:
                # Unexpected data must not end the watcher (the triggerer would restart it at once).
                self.log.exception("Could not read a poll of %s; the next poll tries again", self._describe())
                continue
            for summary in batch:
                self.log.info(
                    "DSS run %s.%s %s finished: %s",
                    summary["project_key"],
                    summary["scenario_id"],
                    summary["run_id"],
                    summary["outcome"],
                )
                yield TriggerEvent(summary)

    async def _apply(self, poll: Any, cursor: RunCursor) -> list[dict[str, Any]]:
        """Move the cursor over one poll (stored before returning); this watcher's new runs, oldest first."""
        batch: list[dict[str, Any]] = []
        if not isinstance(poll, ProjectPoll) or poll.project_key != self.project_key:
            return batch
        if poll.project_error:
            self.log.error(
                "Cannot watch %s: %s Next attempt in %.0fs.",
                self._describe(),
                poll.project_error.rstrip(),
                poll.next_poll_in,
            )
            return batch
        watched = poll.listed if self.scenario_ids is None else self.scenario_ids
        if watched is None:
            return batch  # a poll made for other watchers only
        moved = False
        for sid in watched:
            if sid in poll.errors:
                self.log.error(
                    "Cannot read the runs of DSS scenario %s.%s: %s Retrying with backoff.",
                    self.project_key,
                    sid,
                    poll.errors[sid].rstrip(),
                )
                continue
            if sid not in poll.runs:
                continue  # not polled this time (backing off, or joined mid-poll)
            runs = poll.runs[sid]
            new = cursor.newer(sid, runs)
            if new is not None and not poll.complete.get(sid, True) and not cursor.reaches(sid, runs):
                runs = await self._catch_up(sid, cursor)
                new = cursor.newer(sid, runs)
            moved |= cursor.advance(sid, runs)
            for run in new or ():
                outcome = str((run.get("result") or {}).get("outcome") or "UNKNOWN")
                if outcome in self.outcomes:
                    batch.append(self._summary(sid, run, poll.web_url))
        if cursor.fresh:
            cursor.fresh = False
            moved = True
        if moved:
            # Before the events leave: a crash in between loses them rather than sending them twice.
            await self._save_cursor(cursor)
        return batch

    def _summary(self, scenario_id: str, run: dict[str, Any], web_url: str | None) -> dict[str, Any]:
        summary: dict[str, Any] = summarize_run(  # type: ignore[assignment]
            project_key=self.project_key, scenario_id=scenario_id, base_url=web_url, run=run
        )
        return summary

    async def _catch_up(self, scenario_id: str, cursor: RunCursor) -> list[dict[str, Any]]:
        """Read back to the cursor after a gap (a restart): larger pages, up to CATCH_UP_LIMIT runs."""
        if self._hook is None:
            self._hook = DSSAsyncHook(self.dss_conn_id, retries=REQUEST_RETRIES)
        runs: list[dict[str, Any]] = []
        for limit in (*PAGE_SIZES[1:], CATCH_UP_LIMIT):
            request = endpoints.get_last_runs(
                self.project_key, scenario_id, limit=limit, only_finished_runs=True
            )
            try:
                answer = await self._hook.execute(request)
            except DSSError as err:
                self.log.warning("Catching up on %s.%s failed: %s", self.project_key, scenario_id, err)
                break
            runs = [r for r in answer or [] if isinstance(r, dict) and r.get("result")]
            if len(answer or []) < limit or cursor.reaches(scenario_id, runs):
                return runs
        if runs:
            self.log.warning(
                "More than %d runs of %s.%s finished since this watcher's cursor: the newest %d are sent.",
                CATCH_UP_LIMIT,
                self.project_key,
                scenario_id,
                len(runs),
            )
        return runs

    # --- the cursor ----------------------------------------------------------------------------

    def _state_accessors(self) -> list[Any]:
        """The asset state store accessors of the watched assets (Airflow 3.3), else none."""
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return []
        # One accessor per watched asset: a trigger shared by several assets keeps its cursor in each.
        by_name = getattr(store, "_by_name", None)
        by_uri = getattr(store, "_by_uri", None)
        if isinstance(by_name, dict) and isinstance(by_uri, dict):
            return [*by_name.values(), *by_uri.values()]
        return [store]

    async def _load_cursor(self) -> RunCursor:
        if self._cursor is not None:
            return self._cursor
        cursor = RunCursor()
        stored: list[RunCursor] = []
        for accessor in self._state_accessors():
            try:
                found = RunCursor.from_json(await accessor.aget(self.cursor_key))
            except Exception as err:
                self.log.warning(
                    "Could not read the cursor of %s from the asset state store: %s", self._describe(), err
                )
                continue
            if found is not None:
                stored.append(found)
        if stored:
            cursor = stored[0]
            for other in stored[1:]:
                cursor.merge(other)
        self._cursor = cursor
        return cursor

    async def _save_cursor(self, cursor: RunCursor) -> None:
        value = cursor.to_json()
        for accessor in self._state_accessors():
            try:
                await accessor.aset(self.cursor_key, value)
            except Exception as err:
                self.log.warning(
                    "Could not store the cursor of %s in the asset state store (a restart may then resend "
                    "or miss runs): %s",
                    self._describe(),
                    err,
                )
