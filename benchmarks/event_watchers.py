"""Event watchers: DSS requests per minute and CPU of 1, 10 and 100 ``DSSScenarioRunEventTrigger``
watchers on one project, with Airflow 3.3's shared stream and without it (each trigger's own ``run()``,
what Airflow 3.0 to 3.2 do).

Project ``EVT`` has ``SCENARIOS`` scenarios. Watcher 0 watches every scenario (``scenario_ids=None``);
watcher i > 0 watches scenario ``i mod SCENARIOS``; all poll every ``INTERVAL`` seconds. The watchers run
in one child process and one event loop, as in a triggerer: shared, through Airflow's own
``SharedStreamManager`` (the class the triggerer uses; no metadata DB or supervisor around it); not
shared, each trigger's ``run()`` as its own task. The emulator runs in another process (pinned to its
own core when there are two), so the child's CPU time is the watchers' alone. While measuring, one run
of each scenario finishes; every watcher must get exactly the events of its scenarios.

Expected requests per interval: shared ``S + 1`` (one list call, one ``get-last-runs`` per scenario)
whatever the number of watchers; not shared ``S + 1 + (N - 1)``. Target: shared, 100 watchers make the
same requests per minute as 1 (within 10%).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

from benchmarks._common import (
    Context,
    EmulatorProcess,
    Row,
    child_env,
    child_main,
    client_cores,
    make_seed,
    run_child,
)

PROJECT = "EVT"
SCENARIOS = 10
INTERVAL = 2.0
COUNTS = (1, 10, 100)
MODES = ("shared", "not shared")


def _scenario_id(i: int) -> str:
    return f"S{i:05d}"


# --------------------------------------------------------------------------------------------------
# The child: N watchers in one event loop
# --------------------------------------------------------------------------------------------------
async def _watch(params: dict[str, Any]) -> dict[str, Any]:
    import requests
    from airflow.triggers.shared_stream import SharedStreamManager

    from benchmarks._common import ApiClient
    from dss_provider.triggers.run_events import DSSScenarioRunEventTrigger

    n, shared, window = int(params["watchers"]), params["mode"] == "shared", float(params["window"])
    api = ApiClient.from_env()
    triggers = [
        DSSScenarioRunEventTrigger(
            project_key=PROJECT,
            scenario_ids=None if i == 0 else [_scenario_id(i % SCENARIOS)],
            poll_interval=INTERVAL,
        )
        for i in range(n)
    ]
    events: list[list[dict[str, Any]]] = [[] for _ in triggers]
    manager = SharedStreamManager()

    async def drive(i: int, trigger: DSSScenarioRunEventTrigger) -> None:
        if shared:
            key = trigger.shared_stream_key()
            stream = trigger.filter_shared_stream(manager.subscribe(trigger_id=i, trigger=trigger, key=key))
        else:
            stream = trigger.run()
        async for event in stream:
            events[i].append(event.payload)

    tasks = [asyncio.create_task(drive(i, t)) for i, t in enumerate(triggers)]

    def project_requests() -> dict[str, int]:
        headers = {params["admin_header"]: params["admin_key"]}
        stats = requests.get(params["admin_url"], headers=headers, timeout=60)
        return dict(stats.json().get("requests_by_project", {}).get(PROJECT, {}))

    async def boundary(lists: int, not_before: float = 0.0) -> dict[str, int]:
        """Counts just after watcher 0's ``lists``-th list call (a poll's own requests take ms), so the
        window holds whole polls. Sleeps until ``not_before`` first: checking costs CPU too."""
        await asyncio.sleep(max(0.0, not_before - time.monotonic()))
        while (await asyncio.to_thread(project_requests)).get("list_scenarios", 0) < lists:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        return await asyncio.to_thread(project_requests)

    await asyncio.sleep(INTERVAL * 2)  # every watcher has made its baseline poll
    start = await asyncio.to_thread(project_requests)
    before = await boundary(start.get("list_scenarios", 0) + 1)
    cpu0, t0 = time.process_time(), time.monotonic()
    fired = []
    for s in range(SCENARIOS):
        fired.append(await asyncio.to_thread(api.fire, PROJECT, _scenario_id(s)))
    polls = max(1, round(window / INTERVAL))
    after = await boundary(before.get("list_scenarios", 0) + polls, t0 + polls * INTERVAL - 0.5)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    for i, task in enumerate(tasks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if shared:
            await manager.unsubscribe(i, triggers[i].shared_stream_key())
        await triggers[i].cleanup()
    await manager.stop_all()
    # Every watcher got the runs of its scenarios, once each.
    wrong = 0
    for i, got in enumerate(events):
        want = SCENARIOS if i == 0 else 1
        scenarios = [e["scenario_id"] for e in got]
        if len(scenarios) != want or len(set(scenarios)) != want:
            wrong += 1
    # The watchers' requests only (not the benchmark's own run requests).
    total = sum(v - before.get(k, 0) for k, v in after.items() if k != "run")
    polls = after.get("list_scenarios", 0) - before.get("list_scenarios", 0)
    return {
        "requests_per_min": total * 60.0 / wall,
        "polls_per_min": polls * 60.0 / wall,
        "routes": {k: v - before.get(k, 0) for k, v in after.items()},
        "cpu_pct": 100.0 * cpu / wall,
        "wrong_watchers": wrong,
        "fired": len(fired),
    }


def _child(params: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_watch(params))


# --------------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------------
def run(ctx: Context) -> list[Row]:
    window = 8.0 if ctx.smoke else 40.0
    counts = (1, 100) if ctx.smoke else COUNTS  # smoke (CI): the two ends only
    seed = make_seed(PROJECT, [0.2] * SCENARIOS)
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with EmulatorProcess(ctx.workdir, seed, speed=1.0) as emu:
        for mode in MODES:
            for n in counts:
                ctx.log(f"event watchers: {n} watcher(s), {mode}, {window:.0f}s window")
                results[(mode, n)] = run_child(
                    "benchmarks.event_watchers",
                    {
                        "watchers": n,
                        "mode": mode,
                        "window": window,
                        "admin_url": f"{emu.url}/__emulator__/stats",
                        "admin_header": "X-DSS-Emulator-Admin-Key",
                        "admin_key": emu.admin_key,
                    },
                    ctx.workdir,
                    env=child_env(ctx.workdir, emu.env()),
                    cpus=client_cores(),
                    timeout=window + 180,
                )
    rows: list[Row] = []
    per_interval = 60.0 / INTERVAL
    for mode in MODES:
        for n in counts:
            r = results[(mode, n)]
            expected = (SCENARIOS + 1 + (0 if mode == "shared" else n - 1)) * per_interval
            rows.append(
                Row(
                    "event_watchers",
                    f"{n} watcher(s) on one project, {mode}: DSS requests/min, triggerer CPU",
                    f"{r['requests_per_min']:.0f} req/min ({r['polls_per_min']:.0f} polls/min), "
                    f"{r['cpu_pct']:.1f}% CPU",
                    f"expected {expected:.0f} req/min",
                    None,
                    f"{SCENARIOS} scenarios, poll every {INTERVAL:g}s; watchers with wrong events: "
                    f"{r['wrong_watchers']}",
                )
            )
    one, hundred = results[("shared", 1)], results[("shared", 100)]
    ratio = hundred["requests_per_min"] / one["requests_per_min"] if one["requests_per_min"] else float("inf")
    correct = all(r["wrong_watchers"] == 0 for r in results.values())
    unshared = (
        results[("not shared", 100)]["requests_per_min"] / results[("not shared", 1)]["requests_per_min"]
    )
    rows.append(
        Row(
            "event_watchers",
            "shared stream: requests of 100 watchers / requests of 1",
            f"{ratio:.2f}",
            "within 10% of 1.00, every watcher exactly its events",
            abs(ratio - 1.0) <= 0.10 and correct,
            f"not shared: {unshared:.1f}x",
        )
    )
    return rows


if __name__ == "__main__":
    child_main(sys.argv[1:], _child)
