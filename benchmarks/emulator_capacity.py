"""Emulator capacity: status polls per second on one core, and memory after 100,000 runs.

Throughput: the emulator process (``python -m dss_provider.emulator``) is pinned to one core; a
client child pinned to the other core keeps ``CONNECTIONS`` keep-alive HTTP/1.1 connections busy with
GET ``.../light`` and GET run details for a bounded time. The client is a minimal raw-socket asyncio
client (pre-built request bytes, responses read by Content-Length) so that it costs far less CPU than
the emulator; the emulator's own CPU use over the window is reported to show it was the bottleneck.

Memory: a child process starts a ``DSSEmulator`` in-process (the same server stack), with an injected
clock, and drives 100,000 runs through the engine's in-process API (``Engine.fire`` under the engine
lock, round-robin over ``SCENARIOS`` one-step scenarios, the fake clock moved 2 s per fire so each run
ends before the next fire of its scenario); the default ``history_limit`` (200 finished runs kept per
scenario) prunes the rest. RSS is read at 50,000 and 100,000 runs: with pruning it plateaus.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from typing import Any

from benchmarks._common import (
    MIB,
    Context,
    EmulatorProcess,
    Row,
    child_env,
    child_main,
    client_cores,
    make_seed,
    run_child,
)

PROJECT = "CAP"
CONNECTIONS = 16
SCENARIOS = 100
HISTORY_LIMIT = 200


def run(ctx: Context) -> list[Row]:
    seconds = 4.0 if ctx.smoke else 10.0
    total_runs = 20_000 if ctx.smoke else 100_000
    rows: list[Row] = []
    seed = make_seed(PROJECT, [3600.0, 3600.0])
    with EmulatorProcess(ctx.workdir, seed, speed=1.0) as emu:
        fire = emu.fire(PROJECT, "S00000")
        run_id = emu.run_of_fire(PROJECT, "S00000", fire)["runId"]
        base = f"/public/api/projects/{PROJECT}/scenarios/S00000"
        for route, path in (("light", f"{base}/light"), ("run details", f"{base}/{run_id}/")):
            res = run_child(
                "benchmarks.emulator_capacity",
                {
                    "mode": "load",
                    "url": emu.url,
                    "path": path,
                    "key": emu.api_key,
                    "seconds": seconds,
                    "connections": CONNECTIONS,
                    "emulator_pid": emu.pid,
                },
                ctx.workdir,
                env=child_env(ctx.workdir),
                timeout=seconds + 120,
                cpus=client_cores(),
            )
            emu_util = res["emulator_util"]
            rps = res["requests"] / res["seconds"]
            if route == "run details":
                ctx.shared["emulator_rps_details"] = rps
            ctx.log(f"emulator: {route}: {rps:.0f} req/s (client CPU {res['client_util'] * 100:.0f}%)")
            rows.append(
                Row(
                    "emulator",
                    f"GET {route}: requests/s on one core",
                    f"{rps:,.0f}/s",
                    "",
                    None,
                    f"{CONNECTIONS} keep-alive connections, {res['seconds']:.0f}s, {res['errors']} errors; "
                    f"emulator CPU {emu_util * 100:.0f}%, "
                    f"client CPU {res['client_util'] * 100:.0f}% of a core",
                )
            )
    res = run_child(
        "benchmarks.emulator_capacity",
        {"mode": "memory", "runs": total_runs},
        ctx.workdir,
        env=child_env(ctx.workdir),
        timeout=900,
    )
    ctx.log(f"emulator: memory: {res}")
    rows.append(
        Row(
            "emulator",
            f"RSS after {total_runs:,} runs (history_limit {HISTORY_LIMIT})",
            f"{res['rss_end'] / MIB:.0f} MiB (+{(res['rss_end'] - res['rss_start']) / MIB:.0f} MiB)",
            "",
            None,
            f"+{(res['rss_half'] - res['rss_start']) / MIB:.0f} MiB at {total_runs // 2:,} runs; "
            f"{res['retained']:,} runs kept over {SCENARIOS} scenarios; "
            f"{res['runs_per_s']:,.0f} runs/s via the in-process engine API",
        )
    )
    return rows


# --------------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------------
async def _load(url: str, path: str, key: str, seconds: float, connections: int) -> tuple[int, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    auth = base64.b64encode(f"{key}:".encode()).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    deadline = time.monotonic() + seconds
    done = [0, 0]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    done[0] += 1
                else:
                    done[1] += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return done[0], done[1]


def _child_load(params: dict[str, Any]) -> dict[str, Any]:
    import psutil

    emulator = psutil.Process(int(params["emulator_pid"]))
    emu0 = sum(emulator.cpu_times()[:2])
    cpu0, t0 = time.process_time(), time.monotonic()
    ok, errors = asyncio.run(
        _load(params["url"], params["path"], params["key"], params["seconds"], params["connections"])
    )
    wall = time.monotonic() - t0
    return {
        "requests": ok,
        "errors": errors,
        "seconds": wall,
        "client_util": (time.process_time() - cpu0) / wall,
        "emulator_util": (sum(emulator.cpu_times()[:2]) - emu0) / wall,
    }


def _child_memory(params: dict[str, Any]) -> dict[str, Any]:
    import gc

    import psutil

    from dss_provider.emulator.server import DSSEmulator

    now = [time.time()]
    seed = make_seed(PROJECT, [1.0] * SCENARIOS)
    emu = DSSEmulator(seed=seed, speed=1.0, history_limit=HISTORY_LIMIT, clock=lambda: now[0])
    proc = psutil.Process()
    total = int(params["runs"])
    with emu:
        engine = emu.state
        key = engine.catalog.authenticate([emu.api_key])
        scenarios = [engine.get_scenario(PROJECT, f"S{i:05d}") for i in range(SCENARIOS)]
        gc.collect()
        start = proc.memory_info().rss
        half = start
        t0 = time.monotonic()
        for i in range(total):
            now[0] += 2.0
            with engine.lock:
                engine.fire(scenarios[i % SCENARIOS], {}, key)
            if i + 1 == total // 2:
                gc.collect()
                half = proc.memory_info().rss
        now[0] += 3600.0
        with engine.lock:
            engine.advance_all()
        elapsed = time.monotonic() - t0
        gc.collect()
        end = proc.memory_info().rss
        stats = engine.stats()
        started = sum(s["runs_started"] for s in stats["scenarios"].values())
        retained = sum(len(sc.runs) for sc in scenarios)
    return {
        "rss_start": start,
        "rss_half": half,
        "rss_end": end,
        "runs_started": started,
        "retained": retained,
        "runs_per_s": total / elapsed,
    }


def _child(params: dict[str, Any]) -> dict[str, Any]:
    return _child_load(params) if params["mode"] == "load" else _child_memory(params)


if __name__ == "__main__":
    child_main(sys.argv[1:], _child)
    sys.stdout.flush()
    os._exit(0)
