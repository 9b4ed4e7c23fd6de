"""DAG-parse cost: the import time of our operator, sensor and hook modules on top of ``airflow.sdk``.

Each figure is the median over fresh ``python -c`` processes of::

    import airflow.sdk; t = perf_counter(); import <module>; print(perf_counter() - t)

beside the same figure for the dbt Cloud provider's operators (``requirements/bench.txt``). Byte code
is compiled first (``PYTHONDONTWRITEBYTECODE=1`` is set in our environments, so without this every
process would measure compilation). Modules over the target are profiled with ``-X importtime``, and
the modules each import adds are checked for heavy ones (httpx, requests, the emulator...).
"""

from __future__ import annotations

import compileall
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, Context, Row, median, percentile

TARGET_S = 0.030
OURS = {
    "operators.run_scenario": "dss_provider.operators.run_scenario",
    "sensors.scenario_run": "dss_provider.sensors.scenario_run",
    "hooks.dss (DSSHook)": "dss_provider.hooks.dss",
}
DBT = "airflow.providers.dbt.cloud.operators.dbt"
#: Modules that must not be imported just by importing our DAG-facing modules.
HEAVY = (
    "requests",
    "dataikuapi",
    "dss_provider.emulator.server",
    "dss_provider.emulator.app",
    "uvicorn",
    "starlette",
    "fastapi",
    "yaml",
    "aiohttp",
)
#: Already imported by ``airflow.sdk`` itself (so free for us), reported for the record.
PRELOADED_BY_SDK = ("httpx", "pendulum", "tenacity")

_PROBE = """
import sys, time, json
import airflow.sdk
before = set(sys.modules)
t = time.perf_counter()
{imports}
elapsed = time.perf_counter() - t
new = sorted(set(sys.modules) - before)
print(json.dumps({{"elapsed": elapsed, "new": new, "preloaded": sorted(m for m in {pre!r} if m in before)}}))
"""


def _probe(modules: list[str], env: dict[str, str]) -> dict[str, Any]:
    code = _PROBE.format(imports="\n".join(f"import {m}" for m in modules), pre=PRELOADED_BY_SDK)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _importtime(modules: list[str], env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    """The modules with the largest self import time under ``modules`` (``-X importtime``)."""
    code = "import airflow.sdk\nimport sys\nprint('---', file=sys.stderr)\n" + "\n".join(
        f"import {m}" for m in modules
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = out.stderr.split("---", 1)[-1].splitlines()
    rows: list[tuple[str, float]] = []
    for line in lines:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        try:
            self_us = float(parts[0].split(":", 1)[1])
        except ValueError:
            continue
        rows.append((parts[2].strip(), self_us / 1e6))
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


def _ensure_dbt(ctx: Context, install: bool) -> str | None:
    """None when the dbt Cloud provider is importable, else why not."""
    if importlib.util.find_spec("airflow.providers.dbt") is not None:
        return None
    if not install:
        return "apache-airflow-providers-dbt-cloud is not installed (see requirements/bench.txt)"
    from importlib.metadata import version

    req = ROOT / "requirements" / "bench.txt"
    ctx.log("imports: installing the bench-only dbt Cloud provider (requirements/bench.txt)")
    env = dict(os.environ, UV_SYSTEM_CERTS="1", UV_COMPILE_BYTECODE="1")
    pin = f"apache-airflow=={version('apache-airflow')}"
    for cmd in (
        ["uv", "pip", "install", "-q", "-p", sys.executable, "-r", str(req), pin],
        [sys.executable, "-m", "pip", "install", "-q", "-r", str(req), pin],
    ):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            reason = str(err)
            continue
        if done.returncode == 0:
            importlib.invalidate_caches()
            return None
        reason = (done.stderr or done.stdout).strip()[-300:]
    return f"could not install apache-airflow-providers-dbt-cloud: {reason}"


def _precompile() -> None:
    compileall.compile_dir(str(ROOT / "dss_provider"), quiet=1)
    spec = importlib.util.find_spec("airflow")
    if spec and spec.submodule_search_locations:
        for sub in ("providers/dbt", "providers/http"):
            path = Path(next(iter(spec.submodule_search_locations))) / sub
            if path.is_dir():
                compileall.compile_dir(str(path), quiet=1)


def run(ctx: Context, install: bool = True) -> list[Row]:
    runs = 3 if ctx.smoke else 21
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    dbt_problem = _ensure_dbt(ctx, install)
    _precompile()
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # as in our environments; byte code is already there
    cases: dict[str, list[str]] = {name: [mod] for name, mod in OURS.items()}
    cases["all three"] = list(OURS.values())
    if dbt_problem is None:
        cases["dbt Cloud operators"] = [DBT]
    ctx.log(f"imports: {runs} fresh processes per case, byte code precompiled")
    results: dict[str, dict[str, Any]] = {}
    for name, modules in cases.items():
        times: list[float] = []
        new: list[str] = []
        error = None
        for _ in range(runs):
            try:
                probe = _probe(modules, env)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                error = str(err)
                break
            times.append(float(probe["elapsed"]))
            new = list(probe["new"])
        results[name] = {"times": times, "new": new, "error": error}
        if error:
            ctx.log(f"imports: {name}: {error}")
        else:
            ctx.log(
                f"imports: {name}: median {median(times) * 1000:.1f} ms "  # type: ignore[operator]
                f"(p90 {percentile(times, 90) * 1000:.1f} ms)"  # type: ignore[operator]
            )
    dbt_median = median(results["dbt Cloud operators"]["times"]) if "dbt Cloud operators" in results else None
    rows: list[Row] = []
    for name, modules in cases.items():
        res = results[name]
        if res["error"]:
            rows.append(Row("imports", f"import {name}", "N/A", "< 30 ms", None, res["error"][:120]))
            continue
        value = median(res["times"])
        assert value is not None
        heavy = sorted({m for m in res["new"] for h in HEAVY if m == h or m.startswith(h + ".")})
        heavy_roots = sorted({m.split(".")[0] if not m.startswith("dss_provider") else m for m in heavy})
        if name == "dbt Cloud operators":
            rows.append(Row("imports", f"import {name} (reference)", f"{value * 1000:.1f} ms", "", None))
            continue
        met = value < TARGET_S and (dbt_median is None or value < dbt_median)
        note = f"median of {len(res['times'])}"
        if heavy_roots:
            note += "; heavy: " + ", ".join(heavy_roots)
            met = False
        if value >= TARGET_S:
            offenders = _importtime(modules, env)
            note += "; top self time: " + ", ".join(f"{m} {t * 1000:.1f}ms" for m, t in offenders[:5])
        target = "< 30 ms" + (f" and < dbt ({dbt_median * 1000:.0f} ms)" if dbt_median else "")
        rows.append(Row("imports", f"import {name}", f"{value * 1000:.1f} ms", target, met, note))
    if dbt_problem:
        rows.append(
            Row("imports", "import dbt Cloud operators (reference)", "N/A", "", None, dbt_problem[:160])
        )
    return rows
