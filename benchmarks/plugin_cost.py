"""What the ``dss_emulator`` pytest plugin costs a pytest session that does not use it.

The plugin is loaded (pytest11 entry point) in every pytest session of every project that installs
the package. Each figure is the median over fresh ``python -c`` processes of::

    import pytest; t = perf_counter(); import dss_provider.emulator.pytest_plugin; ...

- *import*: importing the plugin module (with ``dss_provider/__init__.py`` and the emulator package);
- *import + start-up hook*: that, plus what its ``pytest_load_initial_conftests`` and
  ``pytest_unconfigure`` hooks do in every session (import ``dss_provider.testing.home``, make and remove
  the temporary ``AIRFLOW_HOME``).

Byte code is compiled first, as a wheel install does (``PYTHONDONTWRITEBYTECODE=1`` is set in our
environments, so without it every process measures compilation); the figure without byte code is
reported too. The modules the import adds are checked for heavy ones (Airflow, the emulator's server).

Run alone: ``python -m benchmarks.plugin_cost [--smoke]``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, Context, Row, median

TARGET_S = 0.005
PLUGIN = "dss_provider.emulator.pytest_plugin"
HEAVY = ("airflow", "uvicorn", "starlette", "fastapi", "yaml", "requests", "dss_provider.emulator.server")

_PROBE = """
import json, os, sys, time
import pytest
before = set(sys.modules)
t0 = time.perf_counter()
import {plugin}
t1 = time.perf_counter()
from dss_provider.testing.home import IsolatedAirflowHome
home = IsolatedAirflowHome.enter()
if home is not None:
    home.close()
t2 = time.perf_counter()
new = sorted(set(sys.modules) - before)
print(json.dumps({{"import": t1 - t0, "with_hooks": t2 - t0, "owned": home is not None, "new": new}}))
"""


def probe(env: dict[str, str]) -> dict[str, Any]:
    """One fresh process: the plugin's import and start-up figures (seconds) and the modules it added."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(plugin=PLUGIN)],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or ["probe failed"])[-1])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _env(bytecode: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_HOME", "PYTHONPYCACHEPREFIX")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # as in our environments
    if bytecode:
        compileall.compile_dir(str(ROOT / "dss_provider"), quiet=1)
    return env


def _series(runs: int, env: dict[str, str]) -> tuple[list[float], list[float], list[str]]:
    imports, hooks, new = [], [], []
    for _ in range(runs):
        p = probe(env)
        imports.append(float(p["import"]))
        hooks.append(float(p["with_hooks"]))
        new = list(p["new"])
    return imports, hooks, new


def run(ctx: Context) -> list[Row]:
    runs = 5 if ctx.smoke else 21
    rows: list[Row] = []
    ctx.log(f"plugin_cost: {runs} fresh processes, byte code precompiled, then {runs} without")
    imports, hooks, new = _series(runs, _env(bytecode=True))
    heavy = sorted({m for m in new for h in HEAVY if m == h or m.startswith(h + ".")})
    imp, hook = median(imports), median(hooks)
    assert imp is not None and hook is not None
    note = f"median of {runs}; pytest already imported; adds {len(new)} modules"
    note += f"; heavy: {', '.join(heavy)}" if heavy else "; nothing heavy (no Airflow)"
    target = f"< {TARGET_S * 1000:.0f} ms"
    rows.append(
        Row(
            "plugin",
            "import of the pytest plugin",
            f"{imp * 1000:.2f} ms",
            target,
            imp < TARGET_S and not heavy,
            note,
        )
    )
    rows.append(
        Row(
            "plugin",
            "import + start-up hooks (temporary AIRFLOW_HOME)",
            f"{hook * 1000:.2f} ms",
            target,
            hook < TARGET_S,
            f"median of {runs}; what a session that never uses the fixtures pays",
        )
    )
    cold_imports, cold_hooks, _ = _series(runs, _env_without_bytecode(ctx.workdir))
    cold_imp, cold_hook = median(cold_imports), median(cold_hooks)
    assert cold_imp is not None and cold_hook is not None
    rows.append(
        Row(
            "plugin",
            "the same without byte code (editable install, PYTHONDONTWRITEBYTECODE)",
            f"{cold_imp * 1000:.2f} ms / {cold_hook * 1000:.2f} ms",
            "",
            None,
            "import / import + hooks; compiling the sources each time, as in this repo's .venv",
        )
    )
    return rows


def _env_without_bytecode(workdir: Path) -> dict[str, str]:
    env = _env(bytecode=False)
    empty = workdir / "no-pycache"
    empty.mkdir(exist_ok=True)
    env["PYTHONPYCACHEPREFIX"] = str(empty)  # byte code is looked for (and not written) there only
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plugin_cost", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="5 processes per figure instead of 21")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dss-bench-") as work:
        ctx = Context(smoke=args.smoke, workdir=Path(work))
        for row in run(ctx):
            print(f"{row.figure}: {row.value} (target {row.target or '-'}, met {row.met_text()}) {row.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
