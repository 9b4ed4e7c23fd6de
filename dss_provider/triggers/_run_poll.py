"""One poll loop over the finished runs of a DSS project's scenarios: the producer of the event trigger.

Each interval it asks DSS, for every scenario someone watches, for the newest finished runs
(``GET .../get-last-runs?limit=10&onlyFinishedRuns=True``), and yields a :class:`ProjectPoll` holding
the answers. Watching every scenario of the project (``scenario_ids=None``) adds one
``GET .../scenarios/`` per interval to learn the scenario ids. So, per interval:

    requests = W            (W = distinct scenarios watched by name)
    requests = S + 1        (some watcher watches all S scenarios of the project)

DSS has no project-wide "runs finished since" call, and the scenario list only shows runs in progress,
so one request per watched scenario is the least that sees every run, including runs shorter than the
interval. When a page comes back full of runs the poller has not seen (more than 10 runs finished in one
interval), it asks again with a larger page (50, then 500) so none is skipped.

Failures never end the loop (an exception in a shared poll would fail every watcher and the triggerer
would restart them at once, hammering DSS): a scenario whose request fails is retried after a backoff
that doubles from ``poll_interval`` up to :data:`MAX_ERROR_BACKOFF`; when nothing answers (bad key,
DSS down, unknown connection) the whole loop backs off the same way. Each failure is reported in the
poll (``errors`` / ``project_error``) so every watcher logs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from dss_provider.exceptions import DSSAPIError, DSSAuthenticationError, DSSConfigurationError, DSSError
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.protocol import endpoints
from dss_provider.protocol.polling import PollSchedule
from dss_provider.triggers._run_cursor import RunKey, run_key

log = logging.getLogger(__name__)

#: Runs asked per scenario and interval; then larger pages when a page is all new.
PAGE_SIZES = (10, 50, 500)
#: Longest wait before asking again after failures (seconds).
MAX_ERROR_BACKOFF = 600.0
#: Retries of one request inside the hook (the loop's own backoff governs beyond that).
REQUEST_RETRIES = 1

#: What a poll covers: scenario ids, or None for every scenario of the project.
Interest = frozenset[str] | None


@dataclass
class ProjectPoll:
    """One interval's answers for a project (a raw event of the shared stream)."""

    project_key: str
    #: Per scenario polled this time: its newest finished runs (DSS JSON), newest first.
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Per scenario polled this time: whether the page is complete (shorter than asked: all history).
    complete: dict[str, bool] = field(default_factory=dict)
    #: Per scenario whose request failed this time: the error, worded for the log.
    errors: dict[str, str] = field(default_factory=dict)
    #: The scenario ids of the project, when the poll listed them (some watcher watches them all).
    listed: list[str] | None = None
    #: Set when the poll could not reach the project at all (bad key, unknown project, DSS down).
    project_error: str | None = None
    #: The DSS web root, for run links.
    web_url: str | None = None
    #: Seconds until the next poll (longer after failures).
    next_poll_in: float = 0.0


def backoff(poll_interval: float, failures: int) -> float:
    """Wait after ``failures`` consecutive failures: doubling from ``poll_interval``, bounded."""
    if failures <= 0:
        return poll_interval
    return PollSchedule(poll_interval, MAX_ERROR_BACKOFF).backoff(failures)


def _error_text(err: BaseException) -> str:
    return str(err) or type(err).__name__


class ProjectRunPoller:
    """Poll the finished runs of the scenarios ``interest()`` names, every ``poll_interval`` seconds."""

    def __init__(
        self,
        dss_conn_id: str,
        project_key: str,
        poll_interval: float,
        interest: Callable[[], Interest | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dss_conn_id = dss_conn_id
        self.project_key = project_key
        self.poll_interval = poll_interval
        #: None from ``interest()`` means every scenario; an empty set means nobody is subscribed yet.
        self._interest = interest
        self._clock = clock
        #: Per scenario, the newest finished run this poller has seen (to size pages).
        self._newest: dict[str, RunKey] = {}
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._project_failures = 0
        #: Requests sent, for tests and benchmarks.
        self.requests = 0

    async def stream(self) -> AsyncIterator[ProjectPoll]:
        """Poll forever (until cancelled); never raises on DSS errors."""
        hook = DSSAsyncHook(self.dss_conn_id, retries=REQUEST_RETRIES)
        try:
            while True:
                started = self._clock()
                interest = self._interest()
                if interest is not None and not interest:
                    # Nobody has subscribed yet (or all left): nothing to ask DSS.
                    await asyncio.sleep(min(self.poll_interval, 0.5))
                    continue
                poll = await self.poll_once(hook, interest)
                yield poll
                await asyncio.sleep(max(0.0, poll.next_poll_in - (self._clock() - started)))
        finally:
            await hook.release()

    async def _execute(self, hook: DSSAsyncHook, request: endpoints.ApiRequest) -> Any:
        self.requests += 1
        return await hook.execute(request)

    async def poll_once(self, hook: DSSAsyncHook, interest: Interest) -> ProjectPoll:
        """One interval: list the scenarios if needed, then fetch each one's newest finished runs."""
        poll = ProjectPoll(self.project_key)
        try:
            # Join the connection's client once, before the concurrent requests below.
            await hook.acquire()
            if interest is None:
                items = await self._execute(hook, endpoints.list_scenarios(self.project_key))
                poll.listed = sorted(str(i["id"]) for i in items if isinstance(i, dict) and i.get("id"))
                ids = poll.listed
            else:
                ids = sorted(interest)
        except (DSSError, OSError) as err:
            return self._project_failed(poll, err)
        now = self._clock()
        due = [s for s in ids if self._retry_at.get(s, 0.0) <= now]
        answers = await asyncio.gather(*(self._fetch(hook, s) for s in due), return_exceptions=True)
        unreachable = 0
        for sid, answer in zip(due, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                if isinstance(answer, DSSAuthenticationError) or not isinstance(answer, DSSAPIError):
                    unreachable += 1
                failures = self._failures[sid] = self._failures.get(sid, 0) + 1
                self._retry_at[sid] = now + backoff(self.poll_interval, failures)
                poll.errors[sid] = _error_text(answer)
                continue
            runs, complete = answer
            self._failures.pop(sid, None)
            self._retry_at.pop(sid, None)
            poll.runs[sid] = runs
            poll.complete[sid] = complete
        poll.web_url = _web_url(hook)
        if due and unreachable == len(due):
            # Nothing answered (bad key, DSS down, unknown connection): back off the whole loop.
            first = poll.errors[due[0]]
            poll.errors.clear()
            for sid in due:
                self._retry_at.pop(sid, None)
            return self._project_failed(poll, first)
        self._project_failures = 0
        poll.next_poll_in = self.poll_interval
        return poll

    def _project_failed(self, poll: ProjectPoll, err: BaseException | str) -> ProjectPoll:
        self._project_failures += 1
        poll.project_error = err if isinstance(err, str) else _error_text(err)
        poll.next_poll_in = backoff(self.poll_interval, self._project_failures)
        log.debug("Poll of project %s failed: %s", self.project_key, poll.project_error)
        return poll

    async def _fetch(self, hook: DSSAsyncHook, scenario_id: str) -> tuple[list[dict[str, Any]], bool]:
        """The scenario's newest finished runs (newest first), and whether that is all its history.

        The page grows while it holds only runs newer than the newest this poller saw before.
        """
        known = self._newest.get(scenario_id)
        runs: list[dict[str, Any]] = []
        complete = False
        for limit in PAGE_SIZES:
            request = endpoints.get_last_runs(
                self.project_key, scenario_id, limit=limit, only_finished_runs=True
            )
            answer = await self._execute(hook, request)
            runs = [r for r in answer if isinstance(r, dict) and r.get("result")] if answer else []
            complete = len(answer or []) < limit
            if complete or known is None or any(run_key(r) <= known for r in runs):
                break
        if runs:
            newest = max(run_key(r) for r in runs)
            if known is None or newest > known:
                self._newest[scenario_id] = newest
        return runs, complete


def _web_url(hook: DSSAsyncHook) -> str | None:
    try:
        return hook.config.web_url
    except RuntimeError:  # the connection could not be loaded
        return None


def check_interest(scenario_ids: list[str] | None) -> Interest:
    """The interest of one watcher (validated ids, or None for all)."""
    if scenario_ids is None:
        return None
    if not scenario_ids:
        raise DSSConfigurationError(
            "scenario_ids must name at least one scenario, or be None to watch every scenario."
        )
    return frozenset(endpoints.check_id(s, "scenario_ids item") for s in scenario_ids)
