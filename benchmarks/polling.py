"""Polling cost: requests per run and end-to-event delay, our adaptive schedule vs the official client's.

Three run lengths, 10 s, 60 s and 10 min, in *emulator time* (the durations DSS would show). Schedules:

- ``adaptive + history``: ``DSSScenarioRunTrigger`` with the operators' defaults (``poll_interval=2``,
  ``max_poll_interval=60``) and
  ``expected_duration`` read as the operator reads it (``DSSHook.get_expected_duration``: the mean of
  the scenario's last successful runs). The scenario first runs ``HISTORY`` times at its nominal
  duration; the measured run then deviates from it by -20%..+20% (spread over the runs of a case).
- ``adaptive, no history``: the same trigger without ``expected_duration``.
- ``official client``: ``DSSClient(...).get_project(K).get_scenario(S).get_run(R).wait_for_completion()``
  (its ``_ExponentialBackoff``: 200 ms growing 1.1x to 15 s), one thread per wait.

Two ways, side by side:

- **simulated**: pure schedule arithmetic (``PollSchedule.next_delay`` vs 0.2*1.1^k s capped at 15 s,
  the official loop's extra sleep after the last refresh included), for the same set of durations;
- **live**: against the emulator at a speed factor (``SPEEDS``); every interval of both schedules is
  divided by the same factor (the official backoff's 200 ms / 15 s too) and delays are multiplied back,
  so live figures are in emulator time. Each request's wall latency (~1-2 ms on loopback) is also
  multiplied by the speed: a small bias against the schedule that polls more often.

Target: adaptive (with history) uses at most half the requests of the official client at an equal or
better p95 end-to-event delay.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import (
    ADMIN_HEADER,
    ApiClient,
    Context,
    EmulatorProcess,
    Row,
    child_env,
    child_main,
    client_cores,
    fmt_s,
    make_seed,
    percentile,
    run_child,
)
from dss_provider.protocol import endpoints
from dss_provider.protocol.polling import DEFAULT_MAX_POLL_INTERVAL, DEFAULT_POLL_INTERVAL, PollSchedule

PROJECT = "POLL"
CASES = (("10 s", 10.0), ("60 s", 60.0), ("10 min", 600.0))
SPEEDS = {"10 s": 5.0, "60 s": 20.0, "10 min": 60.0}
POLL, MAX_POLL = DEFAULT_POLL_INTERVAL, DEFAULT_MAX_POLL_INTERVAL  # the operators' defaults
HISTORY = 3
DEVIATION = 0.2
STRATEGIES = ("adaptive + history", "adaptive, no history", "official client")


# --------------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------------
def simulate_adaptive(duration: float, expected: float | None) -> tuple[int, float]:
    """Requests and end-to-event delay of the trigger's loop: poll at 0, then after each next_delay."""
    schedule = PollSchedule(POLL, MAX_POLL, expected)
    t, requests = 0.0, 0
    while True:
        requests += 1
        if t >= duration:
            return requests, t - duration
        t += schedule.next_delay(t)


def simulate_official(duration: float) -> tuple[int, float]:
    """``get_run`` at 0, then ``while running: refresh(); sleep(next)``: it returns one sleep after the
    refresh that saw the end."""
    requests, t, sleep = 2, 0.0, 0.2  # get_run + first refresh, both at t=0
    while t < duration:
        t += sleep
        sleep = min(sleep * 1.1, 15.0)
        requests += 1
    return requests, t + sleep - duration


def durations_for(nominal: float, count: int) -> list[float]:
    if count == 1:
        return [nominal]
    return [nominal * (1 - DEVIATION + 2 * DEVIATION * i / (count - 1)) for i in range(count)]


def _sim_rows(count: int) -> list[Row]:
    rows: list[Row] = []
    for label, nominal in CASES:
        durations = durations_for(nominal, count)
        figures: dict[str, tuple[float, float | None]] = {}
        for name, fn in (
            ("adaptive + history", lambda d, e=nominal: simulate_adaptive(d, e)),
            ("adaptive, no history", lambda d: simulate_adaptive(d, None)),
            ("official client", simulate_official),
        ):
            results = [fn(d) for d in durations]
            figures[name] = (
                sum(r for r, _ in results) / len(results),
                percentile([delay for _, delay in results], 95),
            )
        rows.extend(_compare_rows(f"{label} run (simulated)", figures, f"{len(durations)} durations"))
    return rows


def _compare_rows(what: str, figures: dict[str, tuple[float, float | None]], note: str) -> list[Row]:
    official_req, official_p95 = figures["official client"]
    rows = []
    for name in STRATEGIES:
        requests, p95 = figures[name]
        met: bool | None = None
        target = ""
        if name == "adaptive + history":
            target = f"<= {official_req / 2:.1f} req, p95 <= {fmt_s(official_p95)}"
            met = (
                requests <= official_req / 2
                and p95 is not None
                and official_p95 is not None
                and p95 <= official_p95
            )
        rows.append(
            Row(
                "polling",
                f"{what}: {name}",
                f"{requests:.1f} req/run, p95 delay {fmt_s(p95)}",
                target,
                met,
                note,
            )
        )
    return rows


# --------------------------------------------------------------------------------------------------
# Live
# --------------------------------------------------------------------------------------------------
def _wait_all(emu: EmulatorProcess, runs: list[tuple[str, str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for scenario, run_id in runs:
        while True:
            details = emu.call(endpoints.get_run_details(PROJECT, scenario, run_id))
            if (details.get("scenarioRun") or {}).get("result"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} of {scenario} did not finish in time")
            time.sleep(0.05)


def _start(emu: ApiClient, scenarios: list[str]) -> list[tuple[str, str]]:
    fires = [emu.fire(PROJECT, s) for s in scenarios]
    return [(s, str(emu.run_of_fire(PROJECT, s, f)["runId"])) for s, f in zip(scenarios, fires, strict=True)]


def _set_duration(emu: EmulatorProcess, scenario: str, duration: float) -> None:
    settings = emu.call(endpoints.get_settings(PROJECT, scenario))
    settings["params"]["steps"][0]["params"]["emulator"]["duration"] = duration
    emu.call(endpoints.save_settings(PROJECT, scenario, settings))


def run(ctx: Context) -> list[Row]:
    count = 8 if ctx.smoke else 30
    history = 1 if ctx.smoke else HISTORY
    rows = _sim_rows(41)
    ids = {
        label: [f"{label.replace(' ', '')[:4].upper()}{i:03d}" for i in range(count)] for label, _ in CASES
    }
    seed: dict[str, Any] = {"projects": [{"key": PROJECT, "scenarios": []}]}
    for label, nominal in CASES:
        part = make_seed(PROJECT, [nominal] * count)["projects"][0]["scenarios"]
        for sc, sid in zip(part, ids[label], strict=True):
            sc["id"] = sc["name"] = sid
        seed["projects"][0]["scenarios"].extend(part)
    live_cases = CASES[:2] if ctx.smoke else CASES  # smoke: the 10 min case is simulated only
    with EmulatorProcess(ctx.workdir, seed, speed=1.0, history_limit=20) as emu:
        for label, nominal in live_cases:
            speed = SPEEDS[label]
            emu.set_speed(speed)
            scenarios = ids[label]
            ctx.log(
                f"polling: {label} runs at speed {speed:g}: {history} history run(s) of {count} scenarios"
            )
            for _ in range(history):
                _wait_all(emu, _start(emu, scenarios), nominal / speed * 3 + 60)
            durations = durations_for(nominal, count)
            for sid, duration in zip(scenarios, durations, strict=True):
                _set_duration(emu, sid, duration)
            figures: dict[str, tuple[float, float | None]] = {}
            for strategy in STRATEGIES:
                res = run_child(
                    "benchmarks.polling",
                    {
                        "strategy": strategy,
                        "scenarios": scenarios,
                        "speed": speed,
                        "admin_url": f"{emu.url}/__emulator__/stats",
                        "admin_key": emu.admin_key,
                        "timeout": nominal * 1.5 / speed + 120,
                    },
                    ctx.workdir,
                    env=child_env(ctx.workdir, emu.env()),
                    timeout=nominal * 1.5 / speed + 240,
                    cpus=client_cores(),
                )
                waits = len(res["delays"])
                # Emulator counters over the waits only (the child reads them before and after).
                per_run = res["requests"] / waits if waits else float("nan")
                figures[strategy] = (per_run, percentile(res["delays"], 95))
                ctx.log(
                    f"polling: {label} {strategy}: {per_run:.1f} req/run, "
                    f"p95 {fmt_s(figures[strategy][1])} ({waits}/{count} waits; {res.get('errors')})"
                )
                _wait_all(emu, [(r[0], r[1]) for r in res["runs"]], nominal / speed * 2 + 60)
            rows.extend(
                _compare_rows(
                    f"{label} run (live, x{speed:g})",
                    figures,
                    f"{count} runs of {nominal * (1 - DEVIATION):g}-{nominal * (1 + DEVIATION):g}s; "
                    f"expected_duration from {history} prior run(s)",
                )
            )
    return rows


def _expected_durations(scenarios: list[str]) -> dict[str, float | None]:
    """``expected_duration`` per scenario, the operator's way (DSSHook.get_expected_duration)."""
    from dss_provider.hooks.dss import DSSHook

    hook = DSSHook()
    return {s: hook.get_expected_duration(PROJECT, s) for s in scenarios}


def _requests_total(params: dict[str, Any]) -> int:
    import requests

    answer = requests.get(params["admin_url"], headers={ADMIN_HEADER: params["admin_key"]}, timeout=60).json()
    return int(answer["requests_total"])


def _child_adaptive(params: dict[str, Any], history: bool) -> dict[str, Any]:
    import asyncio

    from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger

    speed = float(params["speed"])
    expected = _expected_durations(params["scenarios"]) if history else {}
    # Everything is imported: start the runs now (a short run must not end before its wait begins).
    runs = _start(ApiClient.from_env(), params["scenarios"])
    before = _requests_total(params)

    async def wait(scenario: str, run_id: str) -> tuple[float, dict[str, Any]]:
        trigger = DSSScenarioRunTrigger(
            PROJECT,
            scenario,
            run_id=run_id,
            poll_interval=POLL / speed,
            max_poll_interval=MAX_POLL / speed,
            expected_duration=expected.get(scenario),  # wall seconds: history ran at this speed
        )
        events = [e async for e in trigger.run()]
        at = time.time()
        await trigger.cleanup()
        return at, dict(events[0].payload) if events else {}

    async def main() -> list[tuple[float, dict[str, Any]]]:
        return await asyncio.wait_for(
            asyncio.gather(*(wait(s, r) for s, r in runs)), timeout=float(params["timeout"])
        )

    results = asyncio.run(main())
    requests_made = _requests_total(params) - before - 1  # minus our own stats read
    from datetime import datetime

    delays, errors = [], []
    for at, event in results:
        end = (event.get("run") or {}).get("end")
        if event.get("status") != "finished" or not end:
            errors.append(str(event.get("message"))[:100])
            continue
        delays.append((at - datetime.fromisoformat(end).timestamp()) * speed)
    return {"delays": delays, "errors": errors, "requests": requests_made, "runs": runs}


def _child_official(params: dict[str, Any]) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import dataikuapi
    import dataikuapi.dss.scenario as official

    speed = float(params["speed"])
    base = official._ExponentialBackoff

    class ScaledBackoff(base):  # type: ignore[misc, valid-type]
        """The official schedule, every interval divided by the emulator's speed."""

        def __init__(self, initial_time_ms: float = 200, max_time_ms: float = 15000, factor: float = 1.1):
            super().__init__(initial_time_ms / speed, max_time_ms / speed, factor)

    official._ExponentialBackoff = ScaledBackoff
    conn = json.loads(os.environ["AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"])
    runs = _start(ApiClient.from_env(), params["scenarios"])
    before = _requests_total(params)
    results: list[tuple[float, float]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def wait(scenario: str, run_id: str) -> None:
        try:
            client = dataikuapi.DSSClient(conn["host"], conn["password"])
            run = client.get_project(PROJECT).get_scenario(scenario).get_run(run_id)
            run.wait_for_completion(no_fail=True)
            at = time.time()
            with lock:
                results.append((at, float(run.run["end"]) / 1000.0))
        except Exception as err:
            with lock:
                errors.append(f"{type(err).__name__}: {err}"[:100])

    threads = [threading.Thread(target=wait, args=r, daemon=True) for r in runs]
    for t in threads:
        t.start()
    deadline = time.monotonic() + float(params["timeout"])
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    requests_made = _requests_total(params) - before - 1
    return {
        "delays": [(at - end) * speed for at, end in results],
        "errors": errors,
        "requests": requests_made,
        "runs": runs,
    }


def _child(params: dict[str, Any]) -> dict[str, Any]:
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "adaptive + history": lambda p: _child_adaptive(p, history=True),
        "adaptive, no history": lambda p: _child_adaptive(p, history=False),
        "official client": _child_official,
    }
    return handlers[params["strategy"]](params)


if __name__ == "__main__":
    child_main(sys.argv[1:], _child)
    sys.stdout.flush()
    os._exit(0)
