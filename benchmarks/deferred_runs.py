"""DSS requests per deferred run: N ``DSSRunScenarioOperator(deferrable=True)`` tasks of one project.

What the real-deployment stage's case 8 counts (requests per run, by endpoint), without Airflow's
processes: in a child process each operator's ``execute`` runs until it defers (as a worker would), all
the N triggers then run together in one event loop (as one triggerer runs them), and each event goes
to the operator's ``execute_complete``. Runs last ``DURATION`` seconds (+/-20%, spread over the N runs,
no history: the deployment's MAP_xx scenarios are fresh), the emulator runs at speed 1 in its own
process, ``poll_interval=2`` as in the deployment's DAG.

Figures: requests per run (total and by endpoint, from the emulator's counters), and the delay from
each run's end to the end of its ``execute_complete`` (p50 / p95), i.e. the provider's share of the
end-of-run-to-task-end time (Airflow's own scheduling delay comes on top, the same for both).

Side by side: ``today`` runs the same child on the code of ``BASE_COMMIT`` (before the redesign,
exported with ``git archive`` into the scratch folder), ``now`` on the working tree.
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks._common import (
    Context,
    EmulatorProcess,
    Row,
    child_env,
    child_main,
    client_cores,
    export_code,
    make_seed,
    percentile,
    run_child,
    use_code,
)

PROJECT = "DEFER"
#: The code before the redesign of issue 14 (the "today" side).
BASE_COMMIT = "de5cc53"
DURATION = 60.0
FULL_N = 200
SMOKE_N = 20
POLL = 2.0
#: Tasks executed side by side until they defer (worker slots).
WORKERS = 16
TARGET_REQUESTS = 14.0
ROOT = Path(__file__).resolve().parent.parent


class _TI:
    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def _child(params: dict[str, Any]) -> dict[str, Any]:
    use_code(params.get("code"))  # the "today" side: that code's dss_provider, not the working tree's
    from dss_provider.compat import TaskDeferred
    from dss_provider.operators import scenario as module

    assert module.__file__ and module.__file__.startswith(params.get("code") or str(ROOT)), module.__file__
    # The first import path: both sides' trees have it (the code before the redesign has no run_scenario).
    DSSRunScenarioOperator = module.DSSRunScenarioOperator

    scenarios: list[str] = params["scenarios"]

    def execute(scenario: str) -> tuple[Any, dict[str, Any], Any]:
        """What a worker does: execute until the task defers."""
        op = DSSRunScenarioOperator(
            task_id=f"wait_{scenario}",
            project_key=params["project"],
            scenario_id=scenario,
            deferrable=True,
            poll_interval=params["poll"],
            timeout=600,
        )
        context: dict[str, Any] = {"ti": _TI()}
        try:
            op.execute(context)  # type: ignore[arg-type]
        except TaskDeferred as deferred:
            return op, context, deferred
        raise RuntimeError(f"{scenario}: the run ended before the task deferred")

    # Workers start the tasks side by side (as the deployment's LocalExecutor does).
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        ops, contexts, deferrals = map(list, zip(*pool.map(execute, scenarios), strict=True))

    async def first_event(trigger: Any) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError("no event")

    async def all_events() -> list[dict[str, Any]]:
        done: list[dict[str, Any]] = [{} for _ in deferrals]

        async def one(i: int) -> None:
            payload = await first_event(deferrals[i].trigger)
            event_at = time.time()
            # execute_complete runs in a worker process, not in the triggerer's loop: a thread here.
            resume = getattr(ops[i], deferrals[i].method_name)
            result = await asyncio.to_thread(
                resume, contexts[i], event=payload, **(deferrals[i].kwargs or {})
            )
            done[i] = {
                "end": result["end"],
                "event": event_at,
                "completed": time.time(),
                "outcome": result["outcome"],
            }

        await asyncio.gather(*(one(i) for i in range(len(deferrals))))
        return done

    results = asyncio.run(all_events())
    from datetime import datetime

    ends = [datetime.fromisoformat(r["end"]).timestamp() for r in results]
    return {
        "delays": [r["completed"] - end for r, end in zip(results, ends, strict=True)],
        "event_delays": [r["event"] - end for r, end in zip(results, ends, strict=True)],
        "outcomes": [r["outcome"] for r in results],
    }


def _measure(ctx: Context, n: int, code: Path | None) -> tuple[dict[str, float], list[float], list[float]]:
    durations = [DURATION * (0.8 + 0.4 * i / max(n - 1, 1)) for i in range(n)]
    seed = make_seed(PROJECT, durations)
    scenarios = [s["id"] for s in seed["projects"][0]["scenarios"]]
    with EmulatorProcess(ctx.workdir, seed, speed=1.0) as emu:
        env = child_env(ctx.workdir, emu.env())
        before = emu.stats()["requests"]
        out = run_child(
            "benchmarks.deferred_runs",
            {"project": PROJECT, "scenarios": scenarios, "poll": POLL, "code": str(code) if code else None},
            ctx.workdir,
            env=env,
            timeout=DURATION * 3 + 300,
            cpus=client_cores(),
        )
        after = emu.stats()["requests"]
    per_route = {
        k: (after.get(k, 0) - before.get(k, 0)) / n for k in after if after.get(k, 0) > before.get(k, 0)
    }
    if set(out["outcomes"]) != {"SUCCESS"}:
        raise RuntimeError(f"not every run succeeded: {sorted(set(out['outcomes']))}")
    return per_route, list(out["delays"]), list(out["event_delays"])


def run(ctx: Context) -> list[Row]:
    n = SMOKE_N if ctx.smoke else FULL_N
    figures = {}
    base = export_code(ctx.workdir, BASE_COMMIT)
    if base is None:
        ctx.log(f"deferred runs: skipped, this checkout does not hold {BASE_COMMIT} (a shallow clone?)")
        return []
    for side, code in (("today", base), ("now", None)):
        ctx.log(f"deferred runs: {side}, {n} waits of {DURATION:.0f} s")
        figures[side] = _measure(ctx, n, code)
    (old_routes, old_delays, old_events), (new_routes, new_delays, new_events) = (
        figures["today"],
        figures["now"],
    )
    old_total, new_total = sum(old_routes.values()), sum(new_routes.values())
    old_p95, new_p95 = percentile(old_delays, 95), percentile(new_delays, 95)
    old_p50, new_p50 = percentile(old_delays, 50), percentile(new_delays, 50)
    old_e95, new_e95 = percentile(old_events, 95), percentile(new_events, 95)

    def routes(per: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items()))

    what = f"{n} deferred {DURATION:.0f} s runs"
    return [
        Row(
            "deferred",
            f"{what}: DSS requests per run, today / now",
            f"{old_total:.1f} / {new_total:.1f}",
            f"<= {TARGET_REQUESTS:.0f}",
            new_total <= TARGET_REQUESTS,
            f"today: {routes(old_routes)}; now: {routes(new_routes)}",
        ),
        Row(
            "deferred",
            f"{what}: run end to execute_complete done, p50 / p95, today / now",
            f"{old_p50:.2f} s, {old_p95:.2f} s / {new_p50:.2f} s, {new_p95:.2f} s",
            "p95 no worse than today",
            bool(new_p95 is not None and old_p95 is not None and new_p95 <= old_p95),
            f"run end to trigger event p95: today {old_e95:.2f} s, now {new_e95:.2f} s; "
            f"poll_interval={POLL:g}, no run history; today = {BASE_COMMIT}",
        ),
    ]


if __name__ == "__main__":
    child_main(sys.argv[1:], _child)
