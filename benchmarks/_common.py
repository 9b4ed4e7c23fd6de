"""Shared pieces of the benchmarks: result rows, the machine description, the emulator process, seeds,
a small synchronous DSS client for set-up, child processes and statistics.

Nothing here imports Airflow: the orchestrating process stays light, and every measured process is a
fresh child started with :func:`run_child`.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import requests

from dss_provider.protocol import endpoints

ROOT = Path(__file__).resolve().parent.parent
API_PREFIX = "/public/api"
ADMIN_HEADER = "X-DSS-Emulator-Admin-Key"
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the final table."""

    bench: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None
    note: str = ""

    def met_text(self) -> str:
        return "-" if self.met is None else ("yes" if self.met else "NO")


@dataclass
class Context:
    """What every benchmark gets: the size profile and a scratch directory."""

    smoke: bool
    workdir: Path
    log_lines: list[str] = field(default_factory=list)
    #: Figures one benchmark hands to another (the emulator's capacity sizes the scale runs).
    shared: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        self.log_lines.append(line)
        print(line, flush=True)


def fmt_ms(seconds: float | None, digits: int = 0) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.{digits}f} ms"


def fmt_s(seconds: float | None, digits: int = 2) -> str:
    return "n/a" if seconds is None else f"{seconds:.{digits}f} s"


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence, else None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# --------------------------------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------------------------------
def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 1024**3:.0f} GiB RAM"
    except Exception:
        pass
    try:
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        load = ""
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "airflow": _dist_version("apache-airflow"),
        "aiohttp": _dist_version("aiohttp"),
        "httpx": _dist_version("httpx"),
        "dataiku-api-client": _dist_version("dataiku-api-client"),
        "load average at start": load,
    }


def cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def emulator_core() -> int | None:
    """The core the emulator is pinned to (the first), when there are at least two."""
    available = cores()
    return available[0] if len(available) >= 2 else None


def client_cores() -> set[int] | None:
    """The cores left to the measured process (all but the emulator's)."""
    available = cores()
    return set(available[1:]) if len(available) >= 2 else None


def pin(pid: int, cpus: set[int] | None) -> None:
    if cpus:
        with suppress(AttributeError, OSError):
            os.sched_setaffinity(pid, cpus)


# --------------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------------
def scenario_seed(scenario_id: str, duration: float) -> dict[str, Any]:
    """A one-step scenario whose run lasts ``duration`` emulator-seconds."""
    return {
        "id": scenario_id,
        "name": scenario_id,
        "type": "step_based",
        "active": False,
        "params": {
            "steps": [
                {
                    "id": "work",
                    "name": "Work",
                    "type": "custom_python",
                    "params": {"emulator": {"duration": duration}},
                }
            ]
        },
    }


def make_seed(project: str, durations: Sequence[float], prefix: str = "S") -> dict[str, Any]:
    """One project with one scenario per duration, ids ``S00000``, ``S00001``..."""
    scenarios = [scenario_seed(f"{prefix}{i:05d}", d) for i, d in enumerate(durations)]
    return {"projects": [{"key": project, "name": project, "scenarios": scenarios}]}


# --------------------------------------------------------------------------------------------------
# The emulator in its own process
# --------------------------------------------------------------------------------------------------
class ApiClient:
    """A small synchronous DSS client (requests) for set-up: fire runs, resolve them, read settings."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self._session = requests.Session()
        self._session.auth = (api_key, "")

    @classmethod
    def from_env(cls) -> ApiClient:
        """From ``AIRFLOW_CONN_DATAIKU_DSS_DEFAULT`` (JSON form), as set for the benchmark children."""
        conn = json.loads(os.environ["AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"])
        return cls(conn["host"], conn["password"])

    def call(self, request: endpoints.ApiRequest) -> Any:
        headers = {"Content-Type": "application/json"} if request.has_body else None
        response = self._session.request(
            request.method,
            self.url + API_PREFIX + request.path,
            params=list(request.query) or None,
            data=request.body_bytes(),
            headers=headers,
            timeout=120,
        )
        response.raise_for_status()
        return response.json() if request.response == "json" else response.text

    def fire(self, project: str, scenario: str) -> str:
        """Request a run; the trigger fire's id."""
        fire = self.call(endpoints.run_scenario(project, scenario, {}))
        return str(fire["runId"])

    def run_of_fire(
        self, project: str, scenario: str, trigger_run_id: str, timeout: float = 60
    ) -> dict[str, Any]:
        """The run a fire started (polls until it exists)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.call(endpoints.get_run_for_trigger(project, scenario, "manual", trigger_run_id))
            run = answer.get("scenarioRun") if isinstance(answer, dict) else None
            if run:
                return dict(run)
            if time.monotonic() > deadline:
                raise RuntimeError(f"fire {trigger_run_id} of {project}.{scenario} did not start a run")
            time.sleep(0.05)


class EmulatorProcess(ApiClient):
    """``python -m dss_provider.emulator`` in a child process, pinned to one core when there are two."""

    def __init__(
        self,
        workdir: Path,
        seed: dict[str, Any],
        *,
        speed: float = 1.0,
        history_limit: int = 200,
        pin_core: bool = True,
    ) -> None:
        self.workdir = workdir
        self.seed_path = workdir / f"seed-{secrets.token_hex(4)}.json"
        self.seed_path.write_text(json.dumps(seed))
        self.speed = speed
        self.history_limit = history_limit
        self.pin_core = pin_core
        super().__init__("", secrets.token_urlsafe(16))
        self.admin_key = secrets.token_urlsafe(16)
        self.proc: subprocess.Popen[str] | None = None
        self._err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()

    def start(self) -> EmulatorProcess:
        cmd = [
            sys.executable,
            "-m",
            "dss_provider.emulator",
            "--port",
            "0",
            "--seed",
            str(self.seed_path),
            "--speed",
            str(self.speed),
            "--history-limit",
            str(self.history_limit),
            # "=" form: a token_urlsafe key may start with "-", which argparse would take for an option.
            f"--api-key={self.api_key}",
            f"--admin-key={self.admin_key}",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err, text=True, cwd=ROOT)
        core = emulator_core()
        if self.pin_core and core is not None:
            pin(self.proc.pid, {core})
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "ready at" in line or not line:
                break
        if "ready at" not in line:
            self._err.seek(0)
            err = self._err.read()[-2000:]
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r} {err}")
        self.url = line.split("ready at", 1)[1].split()[0]
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        self._session.close()
        self._err.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- admin ---------------------------------------------------------------------------------
    def _admin(self, method: str, sub: str, body: Any = None) -> Any:
        response = self._session.request(
            method,
            f"{self.url}/__emulator__/{sub}",
            headers={ADMIN_HEADER: self.admin_key},
            json=body,
            timeout=120,
        )
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", "stats"))

    def route_count(self, route: str) -> int:
        return int(self.stats().get("requests", {}).get(route, 0))

    def set_speed(self, speed: float) -> None:
        self._admin("POST", "speed", {"speed": speed})
        self.speed = speed

    def rss(self) -> int:
        import psutil

        return int(psutil.Process(self.pid).memory_info().rss)

    def env(self) -> dict[str, str]:
        conn = {"conn_type": "dataiku_dss", "host": self.url, "password": self.api_key, "extra": {}}
        return {"AIRFLOW_CONN_DATAIKU_DSS_DEFAULT": json.dumps(conn)}


# --------------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------------
def child_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a measured child: a private AIRFLOW_HOME, quiet logs, no examples."""
    home = workdir / "airflow_home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    env.update(extra or {})
    return env


def run_child(
    module: str,
    params: dict[str, Any],
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    cpus: set[int] | None = None,
) -> dict[str, Any]:
    """Run ``python -m <module> child <in> <out>`` and return the JSON it wrote to ``<out>``."""
    tag = secrets.token_hex(4)
    path_in, path_out = workdir / f"{tag}-in.json", workdir / f"{tag}-out.json"
    path_in.write_text(json.dumps(params))
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "child", str(path_in), str(path_out)],
        env=env or child_env(workdir),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pin(proc.pid, cpus)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise RuntimeError(f"{module} child timed out after {timeout:.0f}s: {output[-2000:]}") from None
    if proc.returncode != 0 or not path_out.exists():
        raise RuntimeError(f"{module} child failed (exit {proc.returncode}): {output[-3000:]}")
    return dict(json.loads(path_out.read_text()))


def child_main(argv: Sequence[str], handler: Any) -> None:
    """Entry point of a child: ``child <in.json> <out.json>``."""
    if len(argv) != 3 or argv[0] != "child":
        raise SystemExit("usage: python -m benchmarks.<module> child IN.json OUT.json")
    params = json.loads(Path(argv[1]).read_text())
    result = handler(params)
    Path(argv[2]).write_text(json.dumps(result))


def export_code(workdir: Path, commit: str) -> Path | None:
    """The provider's package as of ``commit`` (``git archive`` of ``dss_provider/``), in
    ``workdir/code-<commit>``; None when this checkout does not hold the commit (a shallow clone)."""
    target = workdir / f"code-{commit}"
    if not target.exists():
        archive = subprocess.run(
            ["git", "archive", commit, "dss_provider"], cwd=ROOT, capture_output=True, check=False
        )
        if archive.returncode != 0:
            return None
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
    return target


def use_code(code: str | None) -> None:
    """In a child: import ``dss_provider`` from ``code`` (an ``export_code`` folder) instead of the
    working tree (whose modules ``benchmarks._common`` has imported already); nothing when None."""
    if not code:
        return
    sys.path.insert(0, code)
    for name in [m for m in sys.modules if m == "dss_provider" or m.startswith("dss_provider.")]:
        del sys.modules[name]


@contextmanager
def scratch_dir(base: Path | None = None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dss-bench-", dir=base) as tmp:
        yield Path(tmp)
