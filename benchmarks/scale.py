"""Triggerer scale: N concurrent ``DSSScenarioRunTrigger`` waits in one asyncio process.

For each N, N one-step scenarios are seeded in an emulator process (pinned to its own core), one run of
each is started and resolved to its run id, then a fresh child process (pinned to the other core)
builds N triggers on those runs and runs them all with ``asyncio.gather``. Runs end at known times
(their scripted durations, spread over 3.5 poll intervals) and the emulator runs at speed 1, so every
figure here is wall-clock time.

Measured in the child: RSS above its baseline (taken after imports and a warm-up wait, so code and
the shared client's first set-up are not counted per wait; the peak is the kernel's high-water mark,
reset at the baseline, so nothing samples inside the measured process: on this kind of machine every
wake-up of an idle event loop costs ~0.25 ms of CPU, which a sampler would add to the waits' CPU; a
0.25 s sampler is the fallback off Linux), CPU time (``time.process_time``) per poll,
the delay from the run's end (``run.end`` of the event) to the event, and requests per completed wait
(the emulator's per-route counters, read by the child just before and after its measured phase, so
its warm-up wait and the reference GETs it makes afterwards are not counted as polls).

Baseline in the same run: the same kind of wait as users write it today, one thread per wait calling
the official client's ``DSSClient(url, key).get_project(K).get_scenario(S).get_run(R)
.wait_for_completion()`` (its own schedule: 200 ms growing 1.1x to 15 s). As in a ``PythonOperator``
task, every thread builds its own ``dataikuapi.DSSClient`` (so its own ``requests`` session and
connection); no client is shared between threads. Threads are capped (see ``THREAD_CAP``); the memory
per wait of larger N is extrapolated from the largest thread run.

At N=1,000 (issue 14's figures) the trigger child runs ``REPEATS`` times on fresh runs (the machine is
shared: one run's CPU time is not a figure) and the rows give the median with the min and max.

``DSS_BENCH_SCALE_SIZES=1000`` (comma-separated) runs only the given sizes, for iterating on one size;
``DSS_BENCH_SCALE_REPEATS=N`` sets the repeats at N=1,000; ``DSS_BENCH_SCALE_THREADS=0`` skips the
thread baseline.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks._common import (
    MIB,
    Context,
    EmulatorProcess,
    Row,
    child_env,
    child_main,
    client_cores,
    export_code,
    fmt_ms,
    make_seed,
    median,
    percentile,
    run_child,
    use_code,
)
from dss_provider.protocol import endpoints

PROJECT = "SCALE"
FULL_SIZES = (100, 1000, 5000)
SMOKE_SIZES = (50,)
THREAD_CAP = 1000
SMOKE_THREAD_CAP = 50
DEFAULT_POLL = 5.0
SMOKE_POLL = 2.0
#: Run ends are spread uniformly over this fraction of the poll interval's 10x (the trigger's gap stays
#: at ``poll_interval`` for the first 10 intervals of a run, see PollSchedule).
SPREAD_FRACTION = 0.35
MEMORY_TARGET_5000 = 150 * MIB
CPU_PER_POLL_TARGET = 0.0005
#: Issue 14's targets at N=1,000, printed beside the figures before it (the httpcore transport).
ISSUE14_N = 1000
ISSUE14_CPU_PER_POLL = 0.00030
ISSUE14_CPU_BEFORE = 0.00049
#: The code when issue 14 was filed (its httpcore transport): at N=ISSUE14_N the trigger child also runs
#: on it (``git archive`` of ``dss_provider/``), in the same run, for the "before" figures of this machine.
ISSUE14_BASE_COMMIT = "82518e6"
ISSUE14_MEMORY_PER_WAIT = 5 * 1024
ISSUE14_MEMORY_BEFORE = "7.5-7.9 KiB"
#: Trigger runs at N=ISSUE14_N (median, min and max are reported).
REPEATS = 3
DELAY_MARGIN = 0.250
FLOOR_CONCURRENCY = 10


def _poll_interval(ctx: Context, n: int) -> tuple[float, str]:
    """The trigger's poll interval for N waits: the default unless the emulator cannot keep up."""
    default = SMOKE_POLL if ctx.smoke else DEFAULT_POLL
    what = "smoke poll interval" if ctx.smoke else "poll interval of the scale run"
    capacity = ctx.shared.get("emulator_rps_details")
    if not capacity:
        return default, f"{what} (emulator capacity not measured)"
    needed = n / default
    usable = 0.6 * float(capacity)  # leave head-room: the emulator also plans and ends runs
    if needed <= usable:
        return default, f"{what}; emulator serves {capacity:,.0f} run-details/s"
    interval = math.ceil(n / usable)
    return float(interval), (
        f"poll interval raised to {interval}s: one emulator core serves ~{capacity:.0f} run-details/s"
    )


def _start_runs(emu: EmulatorProcess, n: int, prefix: str = "S") -> tuple[list[list[Any]], float]:
    """Fire one run of each scenario (8 client threads), then resolve every run id at once from the
    list of running futures; ``[K, S, run_id]`` per run."""
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        fires = dict(zip(pool.map(lambda s: emu.fire(PROJECT, s), ids), ids, strict=True))
    deadline = time.monotonic() + 120
    found: dict[str, str] = {}
    while len(found) < n:
        time.sleep(0.4)  # fires start 0.3 s after the request
        for future in emu.call(endpoints.list_running_scenario_futures()):
            payload = future.get("payload") or {}
            if payload.get("triggerRunId") in fires and payload.get("projectKey") == PROJECT:
                found[payload["scenarioId"]] = payload["runId"]
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(found)} of {n} runs started")
    return [[PROJECT, s, found[s]] for s in ids], time.monotonic() - t0


def _durations(n: int, base: float, spread: float) -> list[float]:
    return [base + spread * i / max(n - 1, 1) for i in range(n)]


def _sizes(ctx: Context) -> tuple[int, ...]:
    chosen = os.environ.get("DSS_BENCH_SCALE_SIZES", "").strip()
    if chosen:
        return tuple(int(n) for n in chosen.split(",") if n.strip())
    return SMOKE_SIZES if ctx.smoke else FULL_SIZES


def _repeats(ctx: Context, n: int) -> int:
    if ctx.smoke or n != ISSUE14_N:
        return 1
    return max(1, int(os.environ.get("DSS_BENCH_SCALE_REPEATS", "").strip() or REPEATS))


def run(ctx: Context) -> list[Row]:
    sizes = _sizes(ctx)
    cap = SMOKE_THREAD_CAP if ctx.smoke else THREAD_CAP
    if os.environ.get("DSS_BENCH_SCALE_THREADS", "").strip() == "0":
        cap = 0
    rows: list[Row] = []
    thread_per_wait: float | None = None
    for n in sizes:
        trials: list[dict[str, Any]] = []
        for trial in range(_repeats(ctx, n)):
            thread_per_wait = _size(ctx, n, trial, trials, rows, cap, thread_per_wait, sizes)
    return rows


def _size(
    ctx: Context,
    n: int,
    trial: int,
    trials: list[dict[str, Any]],
    rows: list[Row],
    cap: int,
    thread_per_wait: float | None,
    sizes: tuple[int, ...],
) -> float | None:
    """One trigger run of N waits (appended to ``trials``); the rows of N after its last repeat."""
    repeats = _repeats(ctx, n)
    last = trial == repeats - 1
    poll, poll_note = _poll_interval(ctx, n)
    # Set-up (fire + resolve, then the child's imports) must fit before the first run ends.
    setup_guess = 6.0 + n / 400.0
    base = max(2 * poll, setup_guess) + 2 * poll
    spread = SPREAD_FRACTION * 10 * poll
    durations = _durations(n, base, spread)
    seed = make_seed(PROJECT, [*durations, 0.05], prefix="S")
    warm = f"S{n:05d}"
    of = f" (run {trial + 1} of {repeats})" if repeats > 1 else ""
    ctx.log(f"scale: N={n}{of}: runs of {base:.0f}-{base + spread:.0f}s, {poll_note}")
    # At N=ISSUE14_N the same child also runs on the code when issue 14 was filed, on fresh runs in the same
    # emulator, in turn first and second (the machine drifts): its figures are printed beside today's.
    before_code = export_code(ctx.workdir, ISSUE14_BASE_COMMIT) if n == ISSUE14_N and not ctx.smoke else None
    sides: list[str | None] = [None] if before_code is None else [None, str(before_code)]
    if trial % 2:
        sides.reverse()
    with EmulatorProcess(ctx.workdir, seed, speed=1.0, history_limit=10) as emu:
        warm_fire = emu.fire(PROJECT, warm)
        warm_run = emu.run_of_fire(PROJECT, warm, warm_fire)["runId"]
        time.sleep(0.2)
        params: dict[str, Any] = {
            "warm": [PROJECT, warm, warm_run],
            # The child reads the emulator's counters around its measured phase only (not its
            # warm-up wait, nor the reference GETs it makes afterwards).
            "stats": [f"{emu.url}/__emulator__/stats", emu.admin_key],
            "poll_interval": poll,
            "timeout": base + spread + 6 * poll + 120,
        }
        measured = {code: _trigger_child(ctx, emu, n, params, code, floors=trial == 0) for code in sides}
        res = measured[None]
        if before_code is not None:
            res["before"] = measured[str(before_code)]
        trials.append(res)
        if not last:
            return thread_per_wait
        rows.extend(_trigger_rows(n, poll, poll_note, trials, first=n == sizes[0]))
        if cap and (n <= cap or thread_per_wait is None):
            threads = min(n, cap)
            # The thread baseline on fresh runs of the first `threads` scenarios (the others idle).
            time.sleep(0.5)
            t_runs, _ = _start_runs(emu, threads)
            ctx.log(f"scale: N={n}: thread baseline with {threads} threads")
            before = emu.stats()
            tres = run_child(
                "benchmarks.scale",
                {"mode": "threads", **params, "runs": t_runs, "floors": False},
                ctx.workdir,
                env=child_env(ctx.workdir, emu.env()),
                timeout=params["timeout"] + 240,
                cpus=client_cores(),
            )
            after = emu.stats()
            t_requests = tres.get("requests", after["requests_total"] - before["requests_total"])
            thread_per_wait = tres["rss_peak_delta"] / max(threads, 1)
            rows.extend(_thread_rows(n, threads, tres, t_requests))
        per_wait = _median([t["rss_peak_delta"] for t in trials]) / n
        extrapolated = "" if n <= cap else f" (thread figure extrapolated from {min(cap, n)} threads)"
        ratio = thread_per_wait / per_wait if per_wait > 0 and thread_per_wait else None
        rows.append(
            Row(
                "scale",
                f"N={n} memory/wait: threads vs triggers",
                "n/a" if ratio is None else f"{ratio:.1f}x less",
                ">= 10x less",
                None if ratio is None else ratio >= 10,
                f"{thread_per_wait / 1024:.1f} KiB vs {per_wait / 1024:.1f} KiB{extrapolated}"
                if thread_per_wait
                else "",
            )
        )
    return thread_per_wait


def _trigger_child(
    ctx: Context, emu: EmulatorProcess, n: int, params: dict[str, Any], code: str | None, *, floors: bool
) -> dict[str, Any]:
    """Fresh runs of the N scenarios, then one trigger child on them (on ``code``'s provider when
    given, with no client floors); its result, with the polls and requests the emulator counted."""
    of = "the code when issue 14 was filed" if code else "this code"
    runs, setup = _start_runs(emu, n)
    ctx.log(f"scale: N={n}: {n} runs started and resolved in {setup:.1f}s, waits on {of}")
    before = emu.stats()
    res = run_child(
        "benchmarks.scale",
        {"mode": "triggers", **params, "runs": runs, "code": code, "floors": floors and not code},
        ctx.workdir,
        env=child_env(ctx.workdir, emu.env()),
        timeout=params["timeout"] + 120,
        cpus=client_cores(),
    )
    after = emu.stats()
    res.setdefault(
        "polls", after["requests"].get("run_details", 0) - before["requests"].get("run_details", 0)
    )
    res.setdefault("requests", after["requests_total"] - before["requests_total"])
    ctx.log(
        f"scale: N={n}, {of}: {_cpu_per_poll(res) * 1000:.3f} ms CPU per poll, "
        f"{res['rss_peak_delta'] / n / 1024:.1f} KiB/wait, {res['polls'] / max(res['finished'], 1):.1f} "
        "run polls per wait"
    )
    return res


def _cpu_per_poll(res: dict[str, Any]) -> float:
    return float(res["cpu"]) / res["polls"] if res.get("polls") else math.nan


def _median(values: list[float]) -> float:
    found = median(values)
    return math.nan if found is None else found


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    """``min-max over K runs`` of repeated runs ('' for one run)."""
    if len(values) < 2:
        return ""
    return f"min-max {fmt(min(values))}-{fmt(max(values))} over {len(values)} runs"


def _trigger_rows(
    n: int, poll: float, poll_note: str, trials: list[dict[str, Any]], first: bool
) -> list[Row]:
    """The trigger rows of N: the median of the repeated runs, with their min and max."""
    issue14 = n == ISSUE14_N
    several = len(trials) > 1
    med = "median " if several else ""
    kib = [t["rss_peak_delta"] / n / 1024 for t in trials]
    memory_per_wait = _median(kib) * 1024
    memory_target, memory_met = "", None
    if n == 5000:
        memory_target = "< 150 MiB at N=5000"
        memory_met = _median([t["rss_peak_delta"] for t in trials]) < MEMORY_TARGET_5000
    elif issue14:
        memory_target = (
            f"<= {ISSUE14_MEMORY_PER_WAIT / 1024:.0f} KiB/wait (the issue's before: {ISSUE14_MEMORY_BEFORE})"
        )
        memory_met = memory_per_wait <= ISSUE14_MEMORY_PER_WAIT
    res = trials[0]
    peak_how = "kernel high-water mark" if res.get("rss_hwm") else "sampled every 0.25 s"
    rows = [
        Row(
            "scale",
            f"N={n} triggers: RSS above baseline",
            f"{med}{memory_per_wait * n / MIB:.1f} MiB ({memory_per_wait / 1024:.1f} KiB/wait)",
            memory_target,
            memory_met,
            "; ".join(
                x
                for x in (
                    _spread(kib, lambda v: f"{v:.1f}"),
                    f"baseline {res['rss_base'] / MIB:.0f} MiB after imports + warm-up, peak: {peak_how}",
                )
                if x
            ),
        )
    ]
    cpus = [_cpu_per_poll(t) for t in trials]
    cpu_per_poll = _median(cpus)
    cpu_target = ISSUE14_CPU_PER_POLL if issue14 else CPU_PER_POLL_TARGET
    done = sum(t["finished"] for t in trials)
    cpu, wall = sum(t["cpu"] for t in trials), sum(t["wall"] for t in trials)
    polls, requests_total = sum(t["polls"] for t in trials), sum(t["requests"] for t in trials)
    rows.append(
        Row(
            "scale",
            f"N={n} triggers: CPU per poll",
            f"{med}{fmt_ms(cpu_per_poll, 3)}",
            f"<= {fmt_ms(cpu_target, 2)} (the issue's before: {fmt_ms(ISSUE14_CPU_BEFORE, 2)})"
            if issue14
            else "< 0.5 ms",
            None if math.isnan(cpu_per_poll) else cpu_per_poll <= cpu_target,
            "; ".join(
                x
                for x in (
                    _spread(cpus, lambda v: fmt_ms(v, 3)),
                    f"{cpu:.1f}s CPU / {polls} run polls (+{requests_total - polls} list polls) over "
                    f"{wall:.0f}s wall ({cpu / wall * 100:.0f}% of a core); "
                    f"{fmt_ms(cpu / done if done else None, 2)} CPU per wait",
                )
                if x
            ),
        )
    )
    befores = [t["before"] for t in trials if t.get("before")]
    if befores:
        rows.extend(_before_rows(n, befores, trials))
    floors = res.get("floors") or {}
    if floors and first:
        rows.append(
            Row(
                "scale",
                f"N={n} reference: CPU per bare GET (10 concurrent)",
                " / ".join(f"{name} {fmt_ms(v, 3)}" for name, v in floors.items()),
                "",
                None,
                "the HTTP client's own floor, measured in the same process after the waits",
            )
        )
    delays = [d for t in trials for d in t["delays"]]
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    limit = poll + DELAY_MARGIN
    late = sum(t["late_start"] for t in trials)
    rows.append(
        Row(
            "scale",
            f"N={n} triggers: end-to-event delay p50 / p99",
            f"{fmt_ms(p50)} / {fmt_ms(p99)}",
            f"p99 < {fmt_ms(limit)}",
            None if p99 is None else p99 < limit,
            f"poll {poll:g}s ({poll_note}); {len(delays)} runs"
            + (f"; {late} ended before their wait began (excluded)" if late else ""),
        )
    )
    per_wait = requests_total / done if done else None
    errors = n * len(trials) - done
    other = [o for t in trials for o in t["other"]]
    rows.append(
        Row(
            "scale",
            f"N={n} triggers: HTTP requests per completed wait",
            "n/a" if per_wait is None else f"{per_wait:.1f}",
            "",
            None if not errors else False,
            f"{done}/{n * len(trials)} finished events; {res.get('clients')} pooled client(s) made"
            + (f"; other events: {other[:3]}" if errors else ""),
        )
    )
    return rows


def _before_rows(n: int, befores: list[dict[str, Any]], trials: list[dict[str, Any]]) -> list[Row]:
    """The code when issue 14 was filed beside this code, same runs' shape, same emulator, same machine."""

    def per_wait(ts: list[dict[str, Any]], key: str) -> float:
        return _median([t[key] / max(t["finished"], 1) for t in ts])

    old_cpu, new_cpu = (
        _median([_cpu_per_poll(t) for t in befores]),
        _median([_cpu_per_poll(t) for t in trials]),
    )
    old_kib = _median([t["rss_peak_delta"] / n / 1024 for t in befores])
    new_kib = _median([t["rss_peak_delta"] / n / 1024 for t in trials])
    of = (
        f"median of {len(befores)} runs each, in turn first and second"
        if len(befores) > 1
        else "one run each"
    )
    return [
        Row(
            "scale",
            f"N={n} triggers, before / now: CPU per poll",
            f"{fmt_ms(old_cpu, 3)} / {fmt_ms(new_cpu, 3)} ({new_cpu / old_cpu:.0%} of before)",
            f"the issue: {fmt_ms(ISSUE14_CPU_PER_POLL, 2)} of {fmt_ms(ISSUE14_CPU_BEFORE, 2)} "
            f"({ISSUE14_CPU_PER_POLL / ISSUE14_CPU_BEFORE:.0%})",
            None,
            f"before = {ISSUE14_BASE_COMMIT} (when issue 14 was filed) on this machine in this run; {of}; "
            f"CPU per wait {fmt_ms(per_wait(befores, 'cpu'), 2)} / {fmt_ms(per_wait(trials, 'cpu'), 2)}; "
            f"run polls per wait {per_wait(befores, 'polls'):.1f} / {per_wait(trials, 'polls'):.1f}",
        ),
        Row(
            "scale",
            f"N={n} triggers, before / now: memory per wait",
            f"{old_kib:.1f} KiB / {new_kib:.1f} KiB",
            "",
            None,
            f"requests per wait {per_wait(befores, 'requests'):.1f} / {per_wait(trials, 'requests'):.1f}",
        ),
    ]


def _thread_rows(n: int, threads: int, res: dict[str, Any], requests_total: int) -> list[Row]:
    delays = res["delays"]
    done = res["finished"]
    return [
        Row(
            "scale",
            f"N={n} baseline {threads} threads: RSS above baseline",
            f"{res['rss_peak_delta'] / MIB:.1f} MiB ({res['rss_peak_delta'] / threads / 1024:.1f} KiB/wait)",
            "",
            None,
            f"official client wait_for_completion, one thread each; {res['started']} threads started",
        ),
        Row(
            "scale",
            f"N={n} baseline {threads} threads: CPU per poll / delay p50, p99",
            f"{fmt_ms(res['cpu'] / requests_total if requests_total else None, 3)} / "
            f"{fmt_ms(percentile(delays, 50))}, {fmt_ms(percentile(delays, 99))}",
            "",
            None,
            f"{done}/{threads} completed",
        ),
        Row(
            "scale",
            f"N={n} baseline {threads} threads: HTTP requests per completed wait",
            f"{requests_total / done:.1f}" if done else "n/a",
            "",
            None,
            "",
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------------
def _end_of(run: dict[str, Any] | None) -> float | None:
    """Epoch seconds of ``run['end']`` (an ISO string in the run dict, epoch ms in DSS' run)."""
    if not run:
        return None
    end = run.get("end")
    if isinstance(end, (int, float)):
        return float(end) / 1000.0 if end else None
    if isinstance(end, str) and end:
        from datetime import datetime

        return datetime.fromisoformat(end).timestamp()
    return None


def _emulator_counts(params: dict[str, Any]) -> tuple[int, int] | None:
    """(run-details requests, all requests) the emulator has served so far, when the child was told
    where to read them."""
    if not params.get("stats"):
        return None
    import requests

    from benchmarks._common import ADMIN_HEADER

    url, key = params["stats"]
    stats = requests.get(url, headers={ADMIN_HEADER: key}, timeout=60).json()
    return int(stats["requests"].get("run_details", 0)), int(stats["requests_total"])


def _counted(result: dict[str, Any], before: tuple[int, int] | None, after: tuple[int, int] | None) -> None:
    if before is not None and after is not None:
        result["polls"], result["requests"] = after[0] - before[0], after[1] - before[1]


def _status_bytes(field: str) -> int | None:
    """A ``VmXXX`` field of /proc/self/status in bytes (None off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class _RssSampler:
    """The peak RSS of this process from a baseline on.

    On Linux the kernel's high-water mark (``VmHWM``), reset at the baseline through
    ``/proc/self/clear_refs``: nothing runs in the measured process (``kernel`` is True). Elsewhere the
    caller calls :meth:`sample` every 0.25 s.
    """

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        #: The peak is the kernel's high-water mark (no sampling needed).
        self.kernel = False
        #: CPU time spent sampling (the harness, not the waits): subtracted from the measured CPU.
        self.cpu = 0.0

    def start(self) -> int:
        """Take the baseline (and reset the kernel's high-water mark to it); the baseline RSS."""
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")  # 5: reset the peak RSS to the current RSS (Linux >= 4.0)
            self.kernel = _status_bytes("VmHWM") is not None
        except OSError:
            self.kernel = False
        base = self.sample()
        self.peak = base
        return base

    def sample(self) -> int:
        t0 = time.thread_time()  # this thread only: the thread baseline's waits run meanwhile
        rss = int(self._proc.memory_info().rss)
        self.peak = max(self.peak, rss)
        self.cpu += time.thread_time() - t0
        return rss

    def result(self) -> int:
        """The peak RSS since :meth:`start`."""
        if self.kernel:
            self.peak = max(self.peak, _status_bytes("VmHWM") or 0)
        return self.peak


def _kept(payload: dict[str, Any]) -> dict[str, Any]:
    """What the rows read of a trigger event: its status, the start of its message and the run's end."""
    run = payload.get("run")
    return {
        "status": payload.get("status"),
        "message": str(payload.get("message"))[:100],
        "run": {"end": run.get("end")} if isinstance(run, dict) else None,
    }


async def _wait_one(trigger: Any) -> tuple[float, dict[str, Any]]:
    """One trigger's wait, as the triggerer's run_trigger: one coroutine iterating the trigger.

    The event is let go once handled (only what the rows need is kept), so no finished wait's event
    or trigger stays counted in the peak of the waits still going.
    """
    kept: dict[str, Any] = {}
    async for event in trigger.run():
        kept = _kept(event.payload)
    at = time.time()
    await trigger.cleanup()
    return at, kept


def _count_clients() -> Callable[[], int | None]:
    """Count the pooled clients (aiohttp sessions) made: one per connection and loop is the design.

    The reader returns how many were made after the warm-up's, or None for code with no such factory
    (before the redesign)."""
    from dss_provider.hooks import dss_async

    make_client = getattr(dss_async, "_make_client", None)
    if make_client is None:
        return lambda: None
    made = [0]

    def counting_make_client(config: Any) -> Any:
        made[0] += 1
        return make_client(config)

    dss_async._make_client = counting_make_client
    return lambda: made[0] - 1


def _child_triggers(params: dict[str, Any]) -> dict[str, Any]:
    import asyncio
    import gc

    use_code(params.get("code"))  # the code when issue 14 was filed, when given
    # Its first module: both trees have it (this one re-exports the class there, the older one defines it).
    from dss_provider.triggers.scenario import DSSScenarioRunTrigger

    clients_made = _count_clients()
    poll = float(params["poll_interval"])

    async def warm_up() -> None:
        k, s, r = params["warm"]
        await _wait_one(DSSScenarioRunTrigger(k, s, run_id=r, poll_interval=poll))

    asyncio.run(warm_up())
    counts0 = _emulator_counts(params)  # here: its import and first call stay out of the RSS baseline
    gc.collect()
    sampler = _RssSampler()
    base = sampler.start()

    async def main() -> list[tuple[float, dict[str, Any]]]:
        # Each trigger is held by its own wait only (a triggerer drops a trigger once it has fired).
        longest = max(60.0, poll)
        waits = [
            _wait_one(DSSScenarioRunTrigger(k, s, run_id=r, poll_interval=poll, max_poll_interval=longest))
            for k, s, r in params["runs"]
        ]
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                sampler.sample()
                await asyncio.sleep(0.25)  # a plain timer: no wait_for task per sample

        # No sampler inside the measured process when the kernel keeps the peak: each wake-up of an idle
        # event loop costs CPU that would be counted as the waits'.
        sampling = None if sampler.kernel else asyncio.create_task(sample())
        try:
            return await asyncio.wait_for(asyncio.gather(*waits), timeout=float(params["timeout"]))
        finally:
            stop.set()
            if sampling is not None:
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling

    began = time.time()
    cpu0, wall0 = time.process_time(), time.monotonic()
    results = asyncio.run(main())
    cpu, wall = time.process_time() - cpu0 - sampler.cpu, time.monotonic() - wall0
    counts1 = _emulator_counts(params)
    delays: list[float] = []
    finished, late = 0, 0
    other: list[str] = []
    for at, event in results:
        if event.get("status") != "finished":
            other.append(f"{event.get('status')}: {str(event.get('message'))[:100]}")
            continue
        finished += 1
        end = _end_of(event.get("run"))
        if end is None:
            continue
        if end < began:
            late += 1
            continue
        delays.append(at - end)
    made = clients_made()  # read before the floors below make their own
    result = {
        "rss_base": base,
        "rss_peak_delta": sampler.result() - base,
        "rss_hwm": sampler.kernel,
        "cpu": cpu,
        "wall": wall,
        "floors": _client_floors(params["runs"][0]) if params.get("floors", True) else {},
        "delays": delays,
        "finished": finished,
        "late_start": late,
        "other": other,
        "clients": made,
    }
    _counted(result, counts0, counts1)
    return result


def _client_floors(run: list[str], count: int = 500) -> dict[str, float]:
    """CPU per bare GET of run details, 10 at a time over keep-alive connections: httpx's
    ``AsyncClient`` (for comparison), the provider's ``DSSAsyncHook.execute`` (aiohttp underneath, with
    its retry rule, error mapping and decoding) and a bare ``aiohttp.ClientSession`` (the floor)."""

    import asyncio

    conn = json.loads(os.environ["AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"])
    url = f"{conn['host']}/public/api/projects/{run[0]}/scenarios/{run[1]}/{run[2]}/"
    floors: dict[str, float] = {}

    async def with_httpx() -> float:
        import httpx

        async with httpx.AsyncClient(auth=(conn["password"], "")) as client:
            await client.get(url)

            async def worker() -> None:
                for _ in range(count // FLOOR_CONCURRENCY):
                    (await client.get(url)).json()

            t0 = time.process_time()
            await asyncio.gather(*(worker() for _ in range(FLOOR_CONCURRENCY)))
            return (time.process_time() - t0) / count

    async def with_aiohttp() -> float:
        import aiohttp

        headers = {"Authorization": aiohttp.encode_basic_auth(conn["password"], "")}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(url) as response:
                await response.read()

            async def worker() -> None:
                for _ in range(count // FLOOR_CONCURRENCY):
                    async with session.get(url) as response:
                        await response.json()

            t0 = time.process_time()
            await asyncio.gather(*(worker() for _ in range(FLOOR_CONCURRENCY)))
            return (time.process_time() - t0) / count

    async def with_hook() -> float:
        from dss_provider.hooks.dss_async import DSSAsyncHook

        request = endpoints.get_run_details(run[0], run[1], run[2])
        async with DSSAsyncHook(retries=1) as hook:
            await hook.execute(request)

            async def worker() -> None:
                for _ in range(count // FLOOR_CONCURRENCY):
                    await hook.execute(request)

            t0 = time.process_time()
            await asyncio.gather(*(worker() for _ in range(FLOOR_CONCURRENCY)))
            return (time.process_time() - t0) / count

    floors["httpx"] = asyncio.run(with_httpx())
    floors["DSSAsyncHook"] = asyncio.run(with_hook())
    with contextlib.suppress(ImportError, AttributeError):
        floors["aiohttp"] = asyncio.run(with_aiohttp())
    return floors


def _child_threads(params: dict[str, Any]) -> dict[str, Any]:
    import gc
    import threading
    import warnings

    warnings.filterwarnings("ignore")
    import dataikuapi

    conn = json.loads(os.environ["AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"])
    url, key = conn["host"], conn["password"]
    # Warm up: one client and one wait, so the imports and first-use caches are in the baseline.
    k, s, r = params["warm"]
    dataikuapi.DSSClient(url, key).get_project(k).get_scenario(s).get_run(r).wait_for_completion(no_fail=True)
    counts0 = _emulator_counts(params)
    gc.collect()
    sampler = _RssSampler()
    base = sampler.start()
    results: list[tuple[float, float | None]] = []
    lock = threading.Lock()
    began = time.time()

    def wait(project: str, scenario: str, run_id: str) -> None:
        # What a PythonOperator task does: its own client (and requests session) per wait.
        client = dataikuapi.DSSClient(url, key)
        run = client.get_project(project).get_scenario(scenario).get_run(run_id)
        run.wait_for_completion(no_fail=True)
        at = time.time()
        with lock:
            results.append((at, _end_of(run.run)))

    threads = [threading.Thread(target=wait, args=tuple(r), daemon=True) for r in params["runs"]]
    cpu0 = time.process_time()
    started = 0
    for t in threads:
        try:
            t.start()
            started += 1
        except RuntimeError:  # the machine takes no more threads
            break
    deadline = time.monotonic() + float(params["timeout"])
    if sampler.kernel:
        for t in threads[:started]:
            t.join(max(0.0, deadline - time.monotonic()))
    while not sampler.kernel and time.monotonic() < deadline and any(t.is_alive() for t in threads[:started]):
        sampler.sample()
        time.sleep(0.25)
    cpu = time.process_time() - cpu0 - sampler.cpu
    counts1 = _emulator_counts(params)
    delays = [at - end for at, end in results if end is not None and end >= began]
    result = {
        "rss_base": base,
        "rss_peak_delta": sampler.result() - base,
        "cpu": cpu,
        "delays": delays,
        "finished": len(results),
        "started": started,
    }
    _counted(result, counts0, counts1)
    return result


def _child(params: dict[str, Any]) -> dict[str, Any]:
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "triggers": _child_triggers,
        "threads": _child_threads,
    }
    return handlers[params["mode"]](params)


if __name__ == "__main__":
    child_main(sys.argv[1:], _child)
    sys.stdout.flush()
    os._exit(0)  # daemon threads of a timed-out baseline must not keep the child alive
