"""A real Airflow deployment on this machine, for the real-deployment test stage (``make test-deploy``).

:class:`Deployment` stands up, in a temporary folder:

* a throwaway PostgreSQL cluster (the OS's ``initdb``/``pg_ctl``, run as the ``postgres`` user when we
  are root) on 127.0.0.1 and a free port, holding the metadata DB;
* Airflow with the LocalExecutor in a temporary ``AIRFLOW_HOME``: ``airflow db migrate``, then
  ``api-server``, ``scheduler --skip-serve-logs``, ``dag-processor`` and ``triggerer --skip-serve-logs``,
  each its own process (and process group), everything on 127.0.0.1;
* the DAGs folder: every file of ``example_dags/`` plus the test-only DAGs of ``deploy/dags/`` (and any
  other folder passed in ``dag_dirs``);
* the connection ``dataiku_dss_default`` from ``AIRFLOW_CONN_DATAIKU_DSS_DEFAULT`` in the processes'
  environment, pointing at a :class:`~dss_provider.emulator.server.DSSEmulator` served by this
  (the test) process, so its counters and runs can be read directly.

Everything is read as a user would: DAG runs, task instances and XComs through the REST API (a token from
``GET /auth/token``, ``[core] simple_auth_manager_all_admins``), processes with ``psutil``. Every wait is
bounded (:func:`wait_until`), and :meth:`Deployment.stop` ends every process the deployment started, by
process group and by a marker in their environment, then stops PostgreSQL; it is idempotent and safe to
call from ``atexit`` or a signal handler.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import requests

from dss_provider import testing
from dss_provider.emulator.server import DSSEmulator
from dss_provider.emulator.state import Run

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"
DEPLOY_DAGS = Path(__file__).resolve().parent / "dags"
VENV_BIN = Path(sys.executable).parent
AIRFLOW = VENV_BIN / "airflow"
#: Environment variable set in every process the deployment starts (value: the deployment's id).
MARKER = "DSS_DEPLOY_STAGE_ID"
FINISHED_RUN_STATES = ("success", "failed")


class DeploymentError(RuntimeError):
    """The deployment could not be set up, or a bounded wait ran out."""


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Call ``predicate`` until it returns a truthy value (returned); raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise DeploymentError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_time(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def secret_forms(secret: str) -> dict[str, bytes]:
    """The forms a secret could be stored in: raw, URL-encoded, base64 (alone and as Basic auth), hex."""
    forms = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 'key:'": base64.b64encode(f"{secret}:".encode()).decode(),
        "base64 ':key'": base64.b64encode(f":{secret}".encode()).decode(),
        "urlsafe-base64": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        "hex": secret.encode().hex(),
    }
    return {name: value.encode() for name, value in forms.items()}


# ----------------------------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------------------------
def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server binaries of the OS packages (or on PATH), if installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster in ``root`` (trust auth, 127.0.0.1 only, a free port)."""

    def __init__(self, root: Path, database: str = "airflow") -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise DeploymentError("PostgreSQL is not installed: run deploy/setup.sh (apt-get)")
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.logfile = root / "postgres.log"
        self.database = database
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self.started = False

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, timeout=timeout, capture_output=True, cwd="/")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self._as_postgres:
            pg = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
            self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60",
                "-o", f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            )  # fmt: skip
            self.started = True
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database)
        except subprocess.CalledProcessError as exc:
            raise DeploymentError(
                f"PostgreSQL failed ({exc.cmd[-1]}): {exc.stderr.decode(errors='replace')[-2000:]}"
            ) from exc

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{self.database}"

    def dump(self) -> bytes:
        """``pg_dump`` of the metadata DB (plain SQL)."""
        return self._run(
            "pg_dump", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database, timeout=120
        ).stdout

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop", timeout=40)
        except (subprocess.SubprocessError, OSError):
            pidfile = self.data / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)


# ----------------------------------------------------------------------------------------------
# Airflow processes
# ----------------------------------------------------------------------------------------------
@dataclass
class AirflowProcess:
    """One long-running ``airflow <command>`` process, in its own process group, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        if self.alive:
            return
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        log.write(f"\n===== start {self.starts} at {time.strftime('%H:%M:%S')}\n".encode())
        log.flush()
        try:
            self.popen = subprocess.Popen(
                [str(AIRFLOW), *self.argv],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # setsid + PDEATHSIG only
                cwd=self.env["AIRFLOW_HOME"],
            )
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tree(self) -> list[psutil.Process]:
        """The process and its descendants (alive ones)."""
        if not self.alive or self.pid is None:
            return []
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def send(self, sig: int, group: bool = False) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20, group: bool = False) -> int | None:
        """Send ``sig`` (to the leader, or the whole group) and wait; SIGKILL the group after ``timeout``."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.send(sig, group=group)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send(signal.SIGKILL, group=True)
                self.popen.wait(10)
        self.send(signal.SIGKILL, group=True)  # leftovers of the group (e.g. the trigger runner)
        return self.popen.returncode

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Usage:
    """Resource use of a process tree over a window: peak RSS (MiB) and CPU (seconds and % of one core)."""

    rss_mib: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s else 0.0


class UsageSampler:
    """Sample a process tree's RSS and CPU; ``sample()`` in a wait loop, ``result()`` at the end."""

    def __init__(self, proc: AirflowProcess) -> None:
        self.proc = proc
        self.started = time.monotonic()
        self.peak_rss = 0
        self._cpu: dict[int, float] = {}
        self._cpu0 = self._cpu_now()

    def _cpu_now(self) -> dict[int, float]:
        out = {}
        for p in self.proc.tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        return out

    def sample(self) -> None:
        rss = 0
        for p in self.proc.tree():
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        self._cpu.update(self._cpu_now())

    def result(self) -> Usage:
        self.sample()
        cpu = sum(t - self._cpu0.get(pid, 0.0) for pid, t in self._cpu.items())
        return Usage(self.peak_rss / 2**20, cpu, time.monotonic() - self.started)


# ----------------------------------------------------------------------------------------------
# The deployment
# ----------------------------------------------------------------------------------------------
@dataclass
class Deployment:
    """PostgreSQL + Airflow (LocalExecutor, 4 processes) + the DSS emulator; see the module docstring.

    Fixture ``deployment`` (``deploy/conftest.py``, session scope) is one of these, started. Methods:

    DAG runs and tasks (REST API):
      ``trigger(dag_id, conf=None) -> run_id``; ``wait_run(dag_id, run_id, timeout) -> state``;
      ``run_dag(dag_id, conf=None, timeout=...) -> DagRunResult`` (trigger + wait + states + XComs);
      ``dag_run(dag_id, run_id) -> dict``;
      ``task_instances(dag_id, run_id) -> {"task" | "task[i]": TI dict}``;
      ``task_states(dag_id, run_id) -> {name: state}``;
      ``task_instance(dag_id, run_id, task_id, map_index=-1)``;
      ``wait_task_state(dag_id, run_id, task_id, states, timeout, map_index=-1) -> TI dict``;
      ``xcom(dag_id, run_id, task_id, key="return_value", map_index=-1)`` (None when absent);
      ``ti_uuid(dag_id, run_id, task_id, map_index=-1)``;
      ``mark_failed(dag_id, run_id, task_id, map_index=-1)``;
      ``task_log(dag_id, run_id, task_id, try_number=1, map_index=-1) -> str``;
      ``api(method, path, **requests_kwargs)`` for anything else (``/api/v2/...``).
    Processes:
      ``processes[name]`` (:class:`AirflowProcess`: ``api-server``, ``scheduler``, ``dag-processor``,
      ``triggerer``); ``task_pid(uuid)`` / ``wait_task_pid(uuid, timeout)`` (the ``airflow worker -- <uuid>``
      process); ``stop_triggerer(sig=SIGTERM)``, ``kill_triggerer()`` (SIGKILL to its group),
      ``start_triggerer()`` (waits until it heartbeats), ``restart_triggerer(sig)``;
      ``sampler(name) -> UsageSampler`` (RSS/CPU of a process tree).
    DSS: ``dss`` (the :class:`DSSEmulator`: ``dss.stats()``, ``dss.state``, ``dss.faults``, ``dss.speed``,
      ``dss.reset()``, done before each test by the ``deployment`` fixture); ``counters(scenario,
      project="DEMO")``; ``dss_runs(scenario, project="DEMO") -> [Run]``; ``dss_run(scenario, run_id)``.
    Files and DB: ``home`` (AIRFLOW_HOME), ``dags_folder``, ``pg_dump() -> bytes``, ``add_dag_file(path)``
      (copied into the DAGs folder; wait for it with ``wait_dags([dag_id])``).
    Results: ``record(**figures)`` is offered per test by the ``figures`` fixture (printed in the table).
    """

    dss: DSSEmulator
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dss-deploy-")))
    dag_dirs: list[Path] = field(default_factory=lambda: [EXAMPLE_DAGS, DEPLOY_DAGS])
    #: The executor's slots (``[core] parallelism``): ``DSS_DEPLOY_PARALLELISM``, else 8.
    parallelism: int = field(default_factory=lambda: int(os.environ.get("DSS_DEPLOY_PARALLELISM") or 8))
    #: Keep the temporary folder (AIRFLOW_HOME, logs, PostgreSQL) after :meth:`stop`.
    keep_files: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        os.chmod(self.root, 0o755)
        self.id = secrets.token_hex(8)
        self.home = self.root / "airflow_home"
        self.dags_folder = self.home / "dags"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.pg = PostgresCluster(self.root / "pg")
        self.processes: dict[str, AirflowProcess] = {}
        self.http = requests.Session()
        self.http.trust_env = False
        self._stopped = False
        self._started = False
        #: (dag_id, run_id) of every DAG run triggered through :meth:`trigger`, oldest first.
        self.triggered: list[tuple[str, str]] = []

    # -- set-up and tear-down ------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment of every Airflow process (the connection to the emulator included)."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST", "DSS_"))}
        cfg = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "128",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.pg.url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),  # 64 characters
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            MARKER: self.id,
            **self.dss.airflow_env(),
        }
        return {**keep, **cfg}

    def start(self) -> Deployment:
        """Set everything up (about a minute); on any failure, stop what was started and raise."""
        if self._started:
            return self
        self._started = True
        t0 = time.monotonic()
        try:
            self.dss.start()
            self.pg.start()
            self.timings["postgres_s"] = time.monotonic() - t0
            self.dags_folder.mkdir(parents=True)
            for folder in self.dag_dirs:
                for path in sorted(Path(folder).glob("*.py")):
                    shutil.copy2(path, self.dags_folder / path.name)
            env = self.env()
            t1 = time.monotonic()
            migrate = subprocess.run(
                [str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, timeout=300, cwd=self.home
            )
            if migrate.returncode != 0:
                raise DeploymentError("airflow db migrate failed:\n" + migrate.stdout.decode()[-3000:])
            self.timings["db_migrate_s"] = time.monotonic() - t1
            logs = self.home / "process-logs"
            logs.mkdir()
            commands = {
                "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
                "scheduler": ["scheduler", "--skip-serve-logs"],
                "dag-processor": ["dag-processor"],
                "triggerer": ["triggerer", "--skip-serve-logs"],
            }
            for name, argv in commands.items():
                self.processes[name] = AirflowProcess(name, argv, env, logs / f"{name}.log")
                self.processes[name].start()
            wait_until(self._api_up, 120, "the api-server to answer", interval=1)
            self.http.headers["Authorization"] = f"Bearer {self._token()}"
            wait_until(lambda: self._jobs_alive("SchedulerJob"), 90, "the scheduler to heartbeat", 1)
            wait_until(lambda: self._jobs_alive("TriggererJob"), 90, "the triggerer to heartbeat", 1)
            self.wait_dags(self.expected_dag_ids(), timeout=180)
            self.timings["startup_s"] = time.monotonic() - t0
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process we started (graceful, then SIGKILL by group and by marker), then PostgreSQL.

        SIGINT/SIGTERM/SIGHUP are ignored meanwhile: a second Ctrl-C cannot cut the tear-down short (a
        signal mask would not do: the emulator's thread would take the signal)."""
        if self._stopped:
            return
        self._stopped = True
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            self._stop_all()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _stop_all(self) -> None:
        for proc in reversed(list(self.processes.values())):
            with contextlib.suppress(Exception):
                proc.stop(signal.SIGTERM, timeout=15)
        self._kill_marked()
        with contextlib.suppress(Exception):
            self.pg.stop()
        with contextlib.suppress(Exception):
            self.dss.stop()
        if not self.keep_files:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_marked(self) -> None:
        """SIGKILL any process left with our marker in its environment (e.g. a task process that setsid)."""
        for p in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error):
                if p.pid != os.getpid() and p.environ().get(MARKER) == self.id:
                    p.kill()

    def _api_up(self) -> bool:
        for proc in self.processes.values():
            if not proc.alive:
                raise DeploymentError(f"airflow {proc.name} exited:\n{proc.log_tail()}")
        try:
            return self.http.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _token(self) -> str:
        resp = self.http.get(f"{self.api_url}/auth/token", timeout=30)
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def _jobs_alive(self, job_type: str) -> bool:
        """True when the health endpoint says the scheduler/triggerer heartbeats."""
        health = self.api("GET", "/api/v2/monitor/health")
        key = {"SchedulerJob": "scheduler", "TriggererJob": "triggerer"}[job_type]
        return (health.get(key) or {}).get("status") == "healthy"

    def expected_dag_ids(self) -> set[str]:
        """The dag ids of the files in the DAGs folder (``dag_id="..."`` literals)."""
        import re

        ids: set[str] = set()
        for path in self.dags_folder.glob("*.py"):
            ids.update(re.findall(r"dag_id=\"([A-Za-z0-9_.-]+)\"", path.read_text(encoding="utf-8")))
        return ids

    def add_dag_file(self, path: Path) -> None:
        """Copy one more DAG file into the DAGs folder (the dag-processor lists the folder every 5 s)."""
        shutil.copy2(path, self.dags_folder / Path(path).name)

    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 120) -> None:
        """Wait until every dag id is parsed and known to the API; import errors fail at once."""
        want = set(dag_ids)

        def known() -> bool:
            errors = self.api("GET", "/api/v2/importErrors")["import_errors"]
            if errors:
                raise DeploymentError(f"DAG import errors: {json.dumps(errors, indent=1)[:3000]}")
            have = {d["dag_id"] for d in self.api("GET", "/api/v2/dags", params={"limit": 1000})["dags"]}
            return want <= have

        wait_until(known, timeout, f"DAGs {sorted(want)} to be parsed", interval=1)

    # -- REST ----------------------------------------------------------------------------------
    def api(self, method: str, path: str, expect: Iterable[int] = (200,), **kwargs: Any) -> Any:
        """Call the REST API (``path`` starts with ``/``); raise with the body on an unexpected status."""
        kwargs.setdefault("timeout", 30)
        resp = self.http.request(method, self.api_url + path, **kwargs)
        if resp.status_code == 401 and "Authorization" in self.http.headers:  # token expired
            self.http.headers["Authorization"] = f"Bearer {self._token()}"
            resp = self.http.request(method, self.api_url + path, **kwargs)
        if resp.status_code not in tuple(expect):
            raise DeploymentError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a DAG run through the REST API; returns its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        run_id = str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])
        self.triggered.append((dag_id, run_id))
        return run_id

    def diagnose(self, runs: Iterable[tuple[str, str]], lines: int = 12) -> str:
        """Task states of DAG runs, and the last error/warning lines of their failed tasks' logs."""
        out = []
        for dag_id, run_id in runs:
            try:
                tis = self.task_instances(dag_id, run_id)
            except DeploymentError as exc:
                out.append(f"{dag_id}/{run_id}: {exc}")
                continue
            out.append(f"{dag_id}/{run_id}: {[(n, ti['state']) for n, ti in tis.items()]}")
            for name, ti in tis.items():
                if ti["state"] not in ("failed", "upstream_failed", "up_for_retry"):
                    continue
                for try_number in range(1, int(ti.get("try_number") or 1) + 1):
                    with contextlib.suppress(Exception):
                        log = self.task_log(dag_id, run_id, ti["task_id"], try_number, ti["map_index"])
                        bad = [ln for ln in log.splitlines() if ln.startswith(("error", "warning"))]
                        out.append(f"  {name} try {try_number}:")
                        out.extend(f"    {ln[:600]}" for ln in bad[-lines:])
        return "\n".join(out)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        """Wait until the DAG run is success/failed; returns the state."""
        state = wait_until(
            lambda: (s := self.dag_run(dag_id, run_id)["state"]) in FINISHED_RUN_STATES and s,
            timeout,
            f"DAG run {dag_id}/{run_id} to finish",
            interval=1,
        )
        return str(state)

    def fail_unfinished_runs(self, timeout: float = 60) -> list[str]:
        """Mark every queued/running DAG run failed and wait until none of its tasks runs any more."""
        runs = self.api(
            "GET", "/api/v2/dags/~/dagRuns", params={"state": ["queued", "running"], "limit": 1000}
        )["dag_runs"]
        for run in runs:
            path = f"/api/v2/dags/{run['dag_id']}/dagRuns/{quote(run['dag_run_id'], safe='')}"
            self.api("PATCH", path, json={"state": "failed"})

        def settled() -> bool:
            busy = ("running", "deferred", "queued", "scheduled", "restarting", "up_for_retry")
            return not any(
                state in busy
                for run in runs
                for state in self.task_states(run["dag_id"], run["dag_run_id"]).values()
            )

        if runs:
            wait_until(settled, timeout, "the tasks of the failed leftover DAG runs to stop", interval=1)
        return [f"{r['dag_id']}/{r['dag_run_id']}" for r in runs]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """``{"task_id" or "task_id[i]": TI dict}`` (REST)."""
        data = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances",
            params={"limit": 1000},
        )
        return {_name(ti["task_id"], ti["map_index"]): ti for ti in data["task_instances"]}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {name: ti["state"] for name, ti in self.task_instances(dag_id, run_id).items()}

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return dict(self.api("GET", path))

    def wait_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: str | Iterable[str],
        timeout: float = 120,
        map_index: int = -1,
    ) -> dict[str, Any]:
        """Wait until the task instance is in one of ``states``; returns the TI dict."""
        wanted = {states} if isinstance(states, str) else set(states)
        return wait_until(
            lambda: (ti := self.task_instance(dag_id, run_id, task_id, map_index))["state"] in wanted and ti,
            timeout,
            f"{dag_id}.{task_id} to be {sorted(wanted)}",
        )

    def ti_uuid(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        """The task instance's uuid (the id in its process title ``airflow worker -- <uuid>``)."""
        return str(self.task_instance(dag_id, run_id, task_id, map_index)["id"])

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """An XCom value through the REST API (None when there is none)."""
        path = f"{_ti_path(dag_id, run_id, task_id)}/xcomEntries/{key}"
        data = self.api("GET", path, expect=(200, 404), params={"map_index": map_index})
        if not data or "value" not in data:
            return None
        value = data["value"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def mark_failed(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """Mark a task instance failed (``PATCH ... new_state=failed``), as a user does in the UI."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self.api("PATCH", path, json={"new_state": "failed"})

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log through the REST API, as text (one line per event)."""
        data = self.api(
            "GET",
            f"{_ti_path(dag_id, run_id, task_id)}/logs/{try_number}",
            params={"map_index": map_index, "full_content": "true"},
            headers={"Accept": "application/json"},
        )
        content = data.get("content") if isinstance(data, dict) else data
        if isinstance(content, str):
            return content
        lines = []
        for item in content or []:
            if isinstance(item, dict):
                extra = {k: v for k, v in item.items() if k not in ("event", "timestamp", "level", "logger")}
                lines.append(f"{item.get('level', '')} {item.get('event', '')} {extra or ''}".strip())
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def run_dag(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 180) -> DagRunResult:
        """Trigger, wait, and read back the run: state, task states and every XCom of every task."""
        run_id = self.trigger(dag_id, conf)
        return self.result(dag_id, run_id, timeout)

    def result(self, dag_id: str, run_id: str, timeout: float = 180) -> DagRunResult:
        """Wait for a triggered run, then read its state, task instances and XComs."""
        try:
            state = self.wait_run(dag_id, run_id, timeout)
        except DeploymentError as exc:
            raise DeploymentError(f"{exc}; tasks: {self.task_states(dag_id, run_id)}") from exc
        tis = self.task_instances(dag_id, run_id)
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/~/xcomEntries"
        entries: list[dict[str, Any]] = []
        while True:  # pages of 1000, the API's most (200 mapped tasks have more XComs than that)
            page = self.api("GET", path, params={"limit": 1000, "offset": len(entries)})
            entries += page["xcom_entries"]
            if not page["xcom_entries"] or len(entries) >= page["total_entries"]:
                break
        xcoms: dict[str, dict[str, Any]] = {}
        for entry in entries:
            value = self.xcom(dag_id, run_id, entry["task_id"], entry["key"], entry["map_index"])
            xcoms.setdefault(_name(entry["task_id"], entry["map_index"]), {})[entry["key"]] = value
        return DagRunResult(dag_id, run_id, state, {n: ti["state"] for n, ti in tis.items()}, xcoms, tis)

    # -- processes -----------------------------------------------------------------------------
    def task_pid(self, uuid: str) -> int | None:
        """Pid of the process titled ``airflow worker -- <uuid>`` (the task, not its supervisor)."""
        title = f"airflow worker -- {uuid}"
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or []).strip()
            if cmd == title:
                return int(p.info["pid"])
        return None

    def wait_task_pid(self, uuid: str, timeout: float = 60) -> int:
        return wait_until(lambda: self.task_pid(uuid), timeout, f"the process 'airflow worker -- {uuid}'")

    def stop_triggerer(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Stop the triggerer with ``sig`` (SIGKILL: its whole process group); returns its exit code."""
        return self.processes["triggerer"].stop(sig, timeout=timeout, group=sig == signal.SIGKILL)

    def kill_triggerer(self) -> int | None:
        return self.stop_triggerer(signal.SIGKILL)

    def start_triggerer(self, timeout: float = 60) -> None:
        """Start a new triggerer process; returns once it heartbeats."""
        self.processes["triggerer"].start()
        wait_until(lambda: self._jobs_alive("TriggererJob"), timeout, "the new triggerer to heartbeat", 1)

    def restart_triggerer(self, sig: int = signal.SIGTERM) -> None:
        self.stop_triggerer(sig)
        self.start_triggerer()

    def sampler(self, name: str = "triggerer") -> UsageSampler:
        return UsageSampler(self.processes[name])

    # -- DSS -----------------------------------------------------------------------------------
    def counters(self, scenario: str, project: str = "DEMO") -> dict[str, Any]:
        """The emulator's counters of one scenario (fires, runs, outcomes, aborts)."""
        return dict(self.dss.stats()["scenarios"].get(f"{project}.{scenario}", {}))

    def dss_runs(self, scenario: str, project: str = "DEMO") -> list[Run]:
        """The emulator's runs of a scenario, oldest first."""
        with self.dss.state.lock:
            self.dss.state.advance_all()
            sc = self.dss.state.get_scenario(project, scenario)
            return sorted(sc.runs.values(), key=lambda r: r.start)

    def dss_run(self, scenario: str, run_id: str, project: str = "DEMO") -> Run:
        with self.dss.state.lock:
            self.dss.state.advance_all()
            return self.dss.state.get_scenario(project, scenario).runs[run_id]

    # -- files ---------------------------------------------------------------------------------
    def pg_dump(self) -> bytes:
        return self.pg.dump()

    def files(self) -> Iterator[Path]:
        """Every file under AIRFLOW_HOME."""
        for path in self.home.rglob("*"):
            if path.is_file():
                yield path


def _ti_path(dag_id: str, run_id: str, task_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"


def _name(task_id: str, map_index: int) -> str:
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"


class DagRunResult(testing.DagRunResult):
    """A finished DAG run read back through the REST API; also the REST task instances."""

    __slots__ = ("tis",)

    def __init__(
        self,
        dag_id: str,
        run_id: str,
        state: str,
        tasks: dict[str, str | None],
        xcoms: dict[str, dict[str, Any]],
        tis: dict[str, dict[str, Any]],
    ) -> None:
        super().__init__(dag_id, run_id, state, tasks, xcoms)
        #: ``task`` -> the REST task instance dict (start_date, end_date, try_number, id, ...)
        self.tis = tis

    def ended(self, task: str) -> float | None:
        """Epoch seconds at which the task instance ended."""
        return parse_time(self.tis[task].get("end_date"))


def stretch_runs(seed: dict[str, Any], minimum: float, **at_least: float) -> dict[str, Any]:
    """``seed`` with every scenario's scripted steps scaled so a run takes at least ``minimum`` seconds
    (``SCENARIO_ID=seconds`` for others); outcomes, steps and order are unchanged.

    Deferred waits that end within a few seconds of their deferral hit an open Airflow 3.3 race (the
    defer-exit's executor event, drained after the resumed attempt started, fails the task:
    apache/airflow#72716): the stage keeps them out of that window.
    """
    import copy

    out = copy.deepcopy(seed)
    for project in out["projects"]:
        for sc in project.get("scenarios", []):
            params = sc.setdefault("params", {})
            scripts = [s.setdefault("params", {}).setdefault("emulator", {}) for s in params.get("steps", [])]
            if sc.get("type") == "custom_python":
                scripts = [params.setdefault("emulator", {})]
            total = sum(float(s.get("duration", 1.0)) for s in scripts)
            want = max(minimum, at_least.get(sc["id"], 0.0))
            if scripts and 0 < total < want:
                for s in scripts:
                    s["duration"] = float(s.get("duration", 1.0)) * want / total
    return out


def deploy_seed(mapped: int = 50) -> dict[str, Any]:
    """The emulator's seed: the demo seed plus project ``DEPLOY`` with the stage's own scenarios.

    ``WAIT_<n>S`` take n seconds (one step), ``MAP_00``.. ``MAP_<mapped-1>`` 60 s each (the mapped case).
    """
    from dss_provider.emulator.seed import default_seed

    def scenario(sid: str, seconds: float) -> dict[str, Any]:
        work = {"emulator": {"duration": seconds}}
        step = {"id": "work", "name": "Work", "type": "custom_python", "params": work}
        return {"id": sid, "name": sid, "type": "step_based", "active": False, "params": {"steps": [step]}}

    seed = default_seed()
    waits = [scenario(f"WAIT_{n}S", n) for n in (8, 12, 20, 30, 120)] + [scenario("WAIT_120S_B", 120)]
    maps = [scenario(f"MAP_{i:02d}", 60) for i in range(mapped)]
    seed["projects"].append({"key": "DEPLOY", "name": "Deployment stage", "scenarios": waits + maps})
    return seed
