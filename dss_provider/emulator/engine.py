"""The emulator's clock and run scheduler: a lazily evaluated discrete-event timeline.

There are no background threads. Every read or write first *advances* the touched scenario to
"now" (an injectable clock, epoch seconds), materialising the events that happened since:

* **Fire.** ``POST .../run`` creates a trigger fire at time ``t`` (trigger ``manual``, ``cancelled:
  false``) whose planned start is ``t + 0.3 s / speed``. The answer is the fire, never a run.
* **Start or cancel.** When a fire comes due, it starts a run if the scenario has no run in
  progress; otherwise the fire is **cancelled** (``cancelled: true`` on the trigger-fire GET, and
  ``get-run-for-trigger`` never returns a run for it). Fires are handled in order, so of several
  fires that come due while the scenario is idle only the first one starts a run. At most one run
  per scenario exists at a time; fires are never queued behind a running run.
* **Plan.** At start, the whole run is planned from the scenario's current settings: steps run in
  order, each taking ``params.emulator.duration / speed`` seconds (default 1 s). A step runs
  when enabled and when its run condition holds: ``RUN_IF_STATUS_MATCH`` (default; also used for
  ``RUN_CONDITIONALLY``, whose expression is not evaluated) compares ``runConditionStatuses``
  (default ``["SUCCESS", "WARNING"]``) with the scenario status so far (the worst outcome of
  the steps run so far); ``RUN_ALWAYS`` always runs; ``DISABLED`` / ``enabled: false`` skip.
  Skipped steps do not appear in ``stepRuns``. The run's outcome is the worst step outcome
  (SUCCESS < WARNING < FAILED < ABORTED); a run without steps succeeds. A ``custom_python``
  scenario runs one pseudo-step scripted by the scenario's ``params.emulator``.
* **Observe.** Reads show the state at "now": ``stepRuns`` lists started steps only, a running
  step has no ``result`` yet, log lines appear when their time has passed, and the run gets
  ``end`` and ``result`` (and loses its ``futureId``) when its last step ends.
* **Abort.** Scenario-level abort ends the current run *now* as ABORTED (the running step is
  ABORTED, later steps never run) and also cancels fires that are still pending. It does
  nothing when the scenario is idle. Aborting a future (``DELETE /futures/{id}``) aborts that
  run only and leaves pending fires alone.
* **Ids.** Trigger run ids and run ids use ``YYYY-MM-DD-HH-mm-ss-SSS`` in **UTC**, unique per
  scenario (the millisecond is bumped on collision); a run id never equals its fire's id.
* **Memory.** Per scenario, at most ``history_limit`` finished runs (with their fires) and
  ``history_limit`` cancelled fires are kept; older ones are forgotten.
* **Time triggers.** ``temporal`` triggers always feed ``nextRun`` in the light status. They fire by
  themselves only when ``time_triggers`` is on (``DSSEmulator(time_triggers=True)``, the CLI's
  ``--time-triggers``, ``time_triggers: true`` in the seed, or ``POST /__emulator__/time-triggers``);
  off by default so tests stay deterministic. Then each occurrence of an active temporal trigger of
  an active scenario (see :mod:`~dss_provider.emulator.temporal`), on the emulator's clock, counted
  from when time triggers were switched on, fires the trigger (``trigger.type`` ``temporal``, run as
  the scenario's ``runAsUser`` or last modifier) with a planned start ``delay / speed`` later. As in
  DSS, triggers are not evaluated while their scenario runs: an occurrence that falls during a run
  (or while a fire is pending) is skipped (counted in ``time_triggers_skipped``).
* **Runs started from the UI.** :meth:`Engine.fire` takes the trigger and the caller identity, so the
  admin route ``POST /__emulator__/ui-run`` starts a run as a DSS user would from the UI.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from dss_provider.emulator.catalog import Catalog
from dss_provider.emulator.state import (
    DEFAULT_RUN_CONDITION_STATUSES,
    ApiKey,
    BadRequest,
    Fire,
    JsonDict,
    NotFound,
    Run,
    Scenario,
    ScenarioCounters,
    StepPlan,
    StepScript,
    lookup,
    parse_script,
    validate_id,
    worst,
)
from dss_provider.emulator.temporal import next_occurrence

Clock = Callable[[], float]
START_DELAY = 0.3
JOB_STEP_TYPES = frozenset({"build_flowitem", "compute_metrics", "check_dataset", "sync_hive", "exec_sql"})
MANUAL_TRIGGER: JsonDict = {"id": "manual", "type": "manual", "name": "API run", "delay": 0, "active": False}
UI_TRIGGER: JsonDict = {"id": "manual", "type": "manual", "name": "Manual run", "delay": 0, "active": False}


def format_id(ms: int) -> str:
    """``YYYY-MM-DD-HH-mm-ss-SSS`` (UTC) for an epoch-milliseconds timestamp."""
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return f"{dt:%Y-%m-%d-%H-%M-%S}-{ms % 1000:03d}"


def to_ms(t: float) -> int:
    """Epoch seconds to epoch milliseconds."""
    return round(t * 1000)


class ManualClock:
    """An injectable clock (epoch seconds) that only moves when told to, for tests."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = float(t)

    def __call__(self) -> float:
        """The current time (epoch seconds)."""
        return self.t

    def tick(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.t += seconds


class Engine:
    """Owns the catalog, the clock and every run; all public methods are thread-safe via ``lock``."""

    def __init__(self, *, speed: float = 1.0, history_limit: int = 200, clock: Clock | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        if history_limit < 1:
            raise ValueError("history_limit must be >= 1")
        self.clock: Clock = clock or time.time
        self.speed = float(speed)
        self.history_limit = history_limit
        self.lock = threading.RLock()
        self.catalog = Catalog()
        self.counters: dict[str, ScenarioCounters] = {}
        self.futures: dict[str, Run] = {}
        self.active: dict[str, Scenario] = {}
        self._seq = itertools.count(1)
        #: Epoch seconds since when time triggers fire by themselves; None while they do not.
        self.time_triggers_since: float | None = None

    @property
    def time_triggers(self) -> bool:
        """Whether temporal triggers fire by themselves (counted from when this was switched on)."""
        return self.time_triggers_since is not None

    @time_triggers.setter
    def time_triggers(self, enabled: bool) -> None:
        with self.lock:
            if enabled and self.time_triggers_since is None:
                self.advance_all()
                self.time_triggers_since = self.now()
            elif not enabled and self.time_triggers_since is not None:
                self.advance_all()
                self.time_triggers_since = None

    # -- housekeeping --------------------------------------------------------------------------
    def now(self) -> float:
        """The engine's current time (epoch seconds)."""
        return float(self.clock())

    def replace_catalog(self, catalog: Catalog) -> None:
        """Swap in a fresh catalog and forget every run, fire and counter."""
        with self.lock:
            self.catalog = catalog
            self.counters.clear()
            self.futures.clear()
            self.active.clear()
            if self.time_triggers_since is not None:
                # A new catalog's time triggers count from now: nothing of the old one is replayed.
                self.time_triggers_since = self.now()

    def counters_for(self, sc: Scenario) -> ScenarioCounters:
        """The counters of a scenario (created at first use)."""
        c = self.counters.get(sc.full_id)
        if c is None:
            c = self.counters[sc.full_id] = ScenarioCounters()
        return c

    def _new_id(self, sc: Scenario, t: float) -> str:
        ms = max(to_ms(t), sc.last_id_ms + 1)
        rid = format_id(ms)
        while rid in sc.fires or rid in sc.runs:
            ms += 1
            rid = format_id(ms)
        sc.last_id_ms = ms
        return rid

    # -- lookups that advance ------------------------------------------------------------------
    def get_scenario(self, project_key: str, scenario_id: str) -> Scenario:
        """In-process lookup without API key (for test assertions); advanced to now."""
        with self.lock:
            project = self.catalog.projects.get(project_key)
            sc = project.scenarios.get(scenario_id) if project else None
            if sc is None:
                raise NotFound(f"Scenario does not exist: {project_key}.{scenario_id}")
            self.advance(sc)
            return sc

    def scenario(self, key: ApiKey, project_key: str, scenario_id: str) -> Scenario:
        """Resolve (with access checks) and advance a scenario to now."""
        sc = self.catalog.scenario(key, project_key, scenario_id)
        self.advance(sc)
        return sc

    def run(self, sc: Scenario, run_id: str) -> Run:
        """The run ``run_id`` of a scenario (404 if unknown)."""
        return lookup(sc.runs, run_id, "run id", f"Scenario run does not exist: {sc.full_id} run {run_id}")

    def fire_of(self, sc: Scenario, trigger_id: str, trigger_run_id: str) -> Fire:
        """The trigger fire ``trigger_id/trigger_run_id`` of a scenario (404 if unknown)."""
        validate_id(trigger_id, "trigger id")
        validate_id(trigger_run_id, "trigger run id")
        fire = sc.fires.get(trigger_run_id)
        if fire is None or fire.trigger.get("id") != trigger_id:
            raise NotFound(
                f"Trigger fire does not exist: {sc.full_id} trigger {trigger_id} run {trigger_run_id}"
            )
        return fire

    # -- the timeline --------------------------------------------------------------------------
    def advance(self, sc: Scenario, now: float | None = None) -> None:
        """Materialise every event of ``sc`` up to ``now``."""
        now = self.now() if now is None else now
        while True:
            run = sc.current
            run_end = run.end if run is not None else float("inf")
            fire_t = sc.pending[0].planned_start if sc.pending else float("inf")
            timed = self._next_time_trigger(sc)
            time_t = timed[0] if timed is not None else float("inf")
            if min(run_end, fire_t, time_t) > now:
                break
            if run is not None and run_end <= fire_t and run_end <= time_t:
                self._finish(sc, run)
            elif fire_t <= time_t:
                fire = sc.pending.popleft()
                if sc.current is not None:
                    self._cancel(sc, fire)
                else:
                    self._start(sc, fire, fire.planned_start)
            else:
                assert timed is not None
                self._time_fire(sc, *timed)
        if self.time_triggers_since is not None:
            sc.time_checked = max(sc.time_checked or 0.0, now)
        self._update_active(sc)

    def advance_all(self, now: float | None = None) -> None:
        """Advance every active scenario (every scenario with time triggers) to ``now``."""
        now = self.now() if now is None else now
        scenarios = self.catalog.all_scenarios() if self.time_triggers else list(self.active.values())
        for sc in scenarios:
            self.advance(sc, now)

    # -- time triggers -------------------------------------------------------------------------
    def _next_time_trigger(self, sc: Scenario) -> tuple[float, JsonDict] | None:
        """The next occurrence (after the last one handled) of an active temporal trigger, if on."""
        since = self.time_triggers_since
        if since is None or not sc.settings.get("active", False):
            return None
        since = max(since, sc.time_checked or since)
        best: tuple[float, JsonDict] | None = None
        for trig in sc.settings.get("triggers") or []:
            if not isinstance(trig, dict) or trig.get("type") != "temporal" or not trig.get("active", False):
                continue
            params = trig.get("params")
            t = next_occurrence(params if isinstance(params, dict) else {}, since)
            if t is not None and (best is None or t < best[0]):
                best = (t, trig)
        return best

    def _time_fire(self, sc: Scenario, t: float, trig: JsonDict) -> None:
        """A temporal trigger's occurrence at ``t``: a fire, unless the scenario is busy (skipped)."""
        sc.time_checked = t
        counters = self.counters_for(sc)
        if sc.current is not None or sc.pending:
            counters.time_triggers_skipped += 1
            return
        try:
            delay = max(0.0, float(trig.get("delay") or 0))
        except (TypeError, ValueError):
            delay = 0.0
        settings = sc.settings
        run_as = (
            settings.get("runAsUser")
            or ((settings.get("versionTag") or {}).get("lastModifiedBy") or {}).get("login")
            or "admin"
        )
        fire = Fire(
            project_key=sc.project_key,
            scenario_id=sc.id,
            trigger_run_id=self._new_id(sc, t),
            trigger={
                "id": str(trig.get("id", "temporal")),
                "type": "temporal",
                "name": str(trig.get("name", "Time-based")),
                "delay": trig.get("delay", 0),
                "active": True,
            },
            timestamp=t,
            params={},
            planned_start=t + (delay + START_DELAY) / self.speed,
            auth_ctx={
                "authSource": "SCENARIO_TRIGGER",
                "realUserLogin": str(run_as),
                "userGroups": [],
                "via": [],
            },
        )
        sc.fires[fire.trigger_run_id] = fire
        sc.pending.append(fire)
        counters.fires_accepted += 1
        counters.time_trigger_fires += 1

    def _update_active(self, sc: Scenario) -> None:
        if sc.current is None and not sc.pending:
            self.active.pop(sc.full_id, None)
        else:
            self.active[sc.full_id] = sc

    def _cancel(self, sc: Scenario, fire: Fire) -> None:
        fire.cancelled = True
        self.counters_for(sc).fires_cancelled += 1
        sc.cancelled_order.append(fire.trigger_run_id)
        while len(sc.cancelled_order) > self.history_limit:
            sc.fires.pop(sc.cancelled_order.popleft(), None)

    def _finish(self, sc: Scenario, run: Run) -> None:
        run.finished = True
        sc.current = None
        self.futures.pop(run.future_id, None)
        by_outcome = self.counters_for(sc).runs_by_outcome
        by_outcome[run.outcome] = by_outcome.get(run.outcome, 0) + 1
        sc.finished_order.append(run.run_id)
        while len(sc.finished_order) > self.history_limit:
            old = sc.runs.pop(sc.finished_order.popleft(), None)
            if old is not None:
                sc.fires.pop(old.fire.trigger_run_id, None)

    def _start(self, sc: Scenario, fire: Fire, t0: float) -> Run:
        steps, end, outcome = self._plan(sc, t0)
        run_id = self._new_id(sc, t0)
        future_id = secrets.token_hex(4)
        while future_id in self.futures:
            future_id = secrets.token_hex(4)
        run = Run(run_id, sc.project_key, sc.id, sc.summary(), fire, t0, end, outcome, steps, future_id)
        fire.run_id = run_id
        sc.runs[run_id] = run
        sc.current = run
        self.futures[future_id] = run
        self.counters_for(sc).runs_started += 1
        return run

    @staticmethod
    def _definitions(sc: Scenario) -> list[tuple[JsonDict, StepScript]]:
        """Immutable snapshot of the step definitions with parsed scripts, cached per content."""
        settings = sc.settings
        params = settings.get("params") or {}
        if settings.get("type") == "custom_python":
            emulator = params.get("emulator")
            raw: list[Any] = [
                {
                    "id": "custom_python_script",
                    "name": "Custom Python script",
                    "type": "custom_python",
                    "params": {"emulator": emulator} if emulator else {},
                }
            ]
        else:
            raw = list(params.get("steps") or [])
        fingerprint = json.dumps(raw, default=str)
        cached = sc.plan_cache
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        snapshot: list[tuple[JsonDict, StepScript]] = []
        for d in json.loads(fingerprint):
            if not isinstance(d, dict):
                continue
            raw_params = d.get("params")
            emulator = raw_params.get("emulator") if isinstance(raw_params, dict) else None
            try:
                script = parse_script(emulator, "step")
            except BadRequest:
                script = StepScript()
            snapshot.append((d, script))
        sc.plan_cache = (fingerprint, snapshot)
        return snapshot

    def _plan(self, sc: Scenario, t0: float) -> tuple[list[StepPlan], float, str]:
        status, outcome, cursor = "SUCCESS", "SUCCESS", t0
        plans: list[StepPlan] = []
        for index, (d, script) in enumerate(self._definitions(sc)):
            if not self._should_run(d, status):
                continue
            start, end = cursor, cursor + script.duration / self.speed
            step_id = str(d.get("id", f"step_{index}"))
            plan = StepPlan(
                index=index,
                step_run_id=f"{next(self._seq):08x}",
                definition=d,
                step_id=step_id,
                name=str(d.get("name", step_id)),
                type=str(d.get("type", "custom_python")),
                start=start,
                end=end,
                script=script,
            )
            if plan.type in JOB_STEP_TYPES:
                step_params = d.get("params")
                step_params = step_params if isinstance(step_params, dict) else {}
                plan.job_ids.append(self._job_id(plan, step_params, start))
            plans.append(plan)
            status = script.outcome if d.get("resetScenarioStatus") else worst(status, script.outcome)
            outcome = worst(outcome, script.outcome)
            cursor = end
        return plans, cursor, outcome

    @staticmethod
    def _should_run(step: JsonDict, status: str) -> bool:
        condition = step.get("runConditionType", "RUN_IF_STATUS_MATCH")
        if step.get("enabled", True) is False or condition == "DISABLED":
            return False
        if condition == "RUN_ALWAYS":
            return True
        statuses = step.get("runConditionStatuses")
        if not isinstance(statuses, list):
            statuses = list(DEFAULT_RUN_CONDITION_STATUSES)
        return status in statuses

    def _job_id(self, plan: StepPlan, step_params: JsonDict, start: float) -> str:
        builds = step_params.get("builds")
        item = "step"
        if isinstance(builds, list) and builds and isinstance(builds[0], dict):
            item = str(builds[0].get("itemId", item))
        elif isinstance(step_params.get("computeMetrics"), list) and step_params["computeMetrics"]:
            item = str(step_params["computeMetrics"][0].get("itemId", item))
        verb = "Build" if plan.type == "build_flowitem" else plan.type.replace("_", "").capitalize()
        ms = to_ms(start)
        dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
        return f"{verb}_{item}_{dt:%Y-%m-%dT%H-%M-%S}.{ms % 1000:03d}_{next(self._seq)}"

    # -- commands ------------------------------------------------------------------------------
    def fire(
        self,
        sc: Scenario,
        params: JsonDict,
        key: ApiKey | None,
        *,
        trigger: JsonDict | None = None,
        auth_ctx: JsonDict | None = None,
    ) -> Fire:
        """Accept a manual run request: create a trigger fire that will start (or be cancelled).

        ``trigger`` and ``auth_ctx`` default to an API run by ``key``'s user.
        """
        now = self.now()
        self.advance(sc, now)
        if auth_ctx is None:
            if key is None:
                raise ValueError("fire() needs the caller's key or auth_ctx")
            auth_ctx = key.auth_ctx()
        fire = Fire(
            project_key=sc.project_key,
            scenario_id=sc.id,
            trigger_run_id=self._new_id(sc, now),
            trigger=dict(trigger or MANUAL_TRIGGER),
            timestamp=now,
            params=params,
            planned_start=now + START_DELAY / self.speed,
            auth_ctx=auth_ctx,
        )
        sc.fires[fire.trigger_run_id] = fire
        sc.pending.append(fire)
        self.counters_for(sc).fires_accepted += 1
        self._update_active(sc)
        return fire

    def fire_as_user(
        self, project_key: str, scenario_id: str, user: str, params: JsonDict | None = None
    ) -> Fire:
        """A run started by ``user`` from the DSS UI (the admin route ``ui-run``)."""
        validate_id(user, "user login")
        sc = self.get_scenario(project_key, scenario_id)
        auth = {"authSource": "USER_FROM_UI", "realUserLogin": user, "userGroups": [], "via": []}
        fire = self.fire(sc, dict(params or {}), None, trigger=UI_TRIGGER, auth_ctx=auth)
        self.counters_for(sc).ui_fires += 1
        return fire

    def abort(self, sc: Scenario) -> bool:
        """Scenario-level abort: abort the current run and cancel pending fires."""
        now = self.now()
        self.advance(sc, now)
        self.counters_for(sc).aborts_requested += 1
        aborted = False
        if sc.current is not None:
            self._abort_run(sc, sc.current, now)
            aborted = True
        while sc.pending:
            self._cancel(sc, sc.pending.popleft())
        self._update_active(sc)
        return aborted

    def abort_future(self, key: ApiKey, future_id: str) -> Run:
        """Abort the run hosted by a future (404 if unknown or already finished)."""
        validate_id(future_id, "future id")
        run = self.futures.get(future_id)
        if run is not None:
            sc = self.catalog.scenario(key, run.project_key, run.scenario_id)
            now = self.now()
            self.advance(sc, now)
            self.counters_for(sc).future_aborts_requested += 1
            if sc.current is run:
                self._abort_run(sc, run, now)
                self._update_active(sc)
                return run
        raise NotFound(f"Future does not exist: {future_id}", f"No running future with id {future_id}")

    def _abort_run(self, sc: Scenario, run: Run, now: float) -> None:
        run.aborted_at = max(run.start, min(now, run.planned_end))
        self.counters_for(sc).runs_aborted += 1
        self._finish(sc, run)

    def delete_scenario(self, key: ApiKey, project_key: str, scenario_id: str) -> None:
        """Delete a scenario, aborting its current run and dropping its pending fires."""
        sc = self.scenario(key, project_key, scenario_id)
        if sc.current is not None:
            self._abort_run(sc, sc.current, self.now())
        sc.pending.clear()
        self.active.pop(sc.full_id, None)
        del self.catalog.projects[project_key].scenarios[scenario_id]

    def running_runs(self, key: ApiKey) -> list[Run]:
        """The runs in progress that ``key`` may see."""
        self.advance_all()
        return [r for r in self.futures.values() if key.can_access(r.project_key)]

    def stats(self) -> JsonDict:
        """Per-scenario counters (after advancing every scenario to now)."""
        with self.lock:
            self.advance_all()
            return {
                "scenarios": {k: c.as_dict() for k, c in sorted(self.counters.items())},
                "running": len(self.futures),
            }
