"""``DSSEmulator``: the emulator served by uvicorn in a background thread.

Example::

    with DSSEmulator(speed=20) as dss:
        client = dataikuapi.DSSClient(dss.url, dss.api_key)
        client.get_project("DEMO").get_scenario("BUILD_SALES").run_and_wait()
        os.environ.update(dss.airflow_env())   # AIRFLOW_CONN_DATAIKU_DSS_DEFAULT
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import socket
import threading
import time
from typing import Any
from urllib.parse import quote

from dss_provider.emulator.app import EmulatorApp
from dss_provider.emulator.engine import Clock, Engine
from dss_provider.emulator.faults import FaultRule, FaultSet, load_rules
from dss_provider.emulator.seed import SeedLike, build_catalog, load_seed

_HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None
_HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None


class DSSEmulator:
    """A local, faithful Dataiku DSS (scenarios API) for tests and demos.

    Args:
        seed: None (built-in demo seed), a seed dict, or a YAML/JSON seed file path.
        api_key: the global API key (generated with ``secrets.token_urlsafe`` if None).
        speed: divides every scripted duration and the start delay (20 = 20x faster).
        host / port: bind address; port 0 picks a free port (kept across stop/start).
        admin_key: key of the ``/__emulator__/`` admin routes (generated if None).
        history_limit: finished runs (and cancelled fires) kept per scenario.
        faults: initial fault rules (list of dicts/FaultRule, or a YAML/JSON file path).
        clock: callable returning epoch seconds (default ``time.time``).
        fault_seed: seed of the RNG used by fault rules with ``rate`` < 1.
        time_triggers: run the scenarios' temporal triggers on the emulator's clock (default: the
            seed's ``time_triggers`` flag, else off so tests stay deterministic).
    """

    def __init__(
        self,
        seed: SeedLike = None,
        api_key: str | None = None,
        speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_key: str | None = None,
        history_limit: int = 200,
        faults: Any = None,
        clock: Clock | None = None,
        fault_seed: int | None = None,
        time_triggers: bool | None = None,
    ) -> None:
        self._seed = load_seed(seed)
        self._time_triggers = time_triggers
        self._api_key = api_key or secrets.token_urlsafe(24)
        self._admin_key = admin_key or secrets.token_urlsafe(24)
        self._speed = float(speed)
        self._fault_seed = fault_seed
        self._host = host
        self._port = int(port)
        self._engine = Engine(speed=speed, history_limit=history_limit, clock=clock)
        self._faults = FaultSet(seed=fault_seed)
        for rule in load_rules(faults):
            self._faults.add(rule)
        self._load(self._seed)
        self._app = EmulatorApp(
            self._engine, self._faults, self._admin_key, self._reset_from_http, self.stats
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._lifecycle = threading.Lock()

    # -- properties ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash, no API prefix)."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        if ":" in host:
            host = f"[{host}]" if host != "::" else "[::1]"
        return f"http://{host}:{self._port}"

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port the server listens on (chosen at start when 0 was given)."""
        return self._port

    @property
    def api_key(self) -> str:
        """The API key every request must present."""
        return self._api_key

    @property
    def admin_key(self) -> str:
        """The key of the ``/__emulator__`` admin routes."""
        return self._admin_key

    @property
    def state(self) -> Engine:
        """The in-process model (catalog, runs, counters); use ``state.lock`` for consistent reads."""
        return self._engine

    @property
    def faults(self) -> FaultSet:
        """In-process fault control: ``add(kind=..., route=...)``, ``clear()``, ``rules()``."""
        return self._faults

    @property
    def running(self) -> bool:
        """Whether the server thread is up."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def speed(self) -> float:
        """The speed factor: scripted durations are divided by it."""
        return self._engine.speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError("speed must be > 0")
        with self._engine.lock:
            self._engine.speed = float(value)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> DSSEmulator:
        """Start serving (idempotent); returns once the port accepts connections."""
        import uvicorn

        with self._lifecycle:
            if self.running:
                return self
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self._host, self._port))
            except OSError:
                sock.close()
                raise
            sock.listen(2048)
            sock.setblocking(False)
            self._port = sock.getsockname()[1]
            config = uvicorn.Config(
                self._app,
                host=self._host,
                port=self._port,
                loop="uvloop" if _HAS_UVLOOP else "asyncio",
                http="httptools" if _HAS_HTTPTOOLS else "h11",
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=1,
                server_header=False,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"dss-emulator-{self._port}"
            )
            thread.start()
            deadline = time.monotonic() + 15
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(5)
                    sock.close()
                    raise RuntimeError("DSS emulator failed to start")
                time.sleep(0.005)
            self._server, self._thread, self._sock = server, thread, sock
            return self

    def stop(self) -> None:
        """Stop serving and release the port; state is kept for a later ``start()``."""
        with self._lifecycle:
            server, thread, sock = self._server, self._thread, self._sock
            self._server = self._thread = self._sock = None
            if server is None or thread is None:
                return
            server.should_exit = True
            thread.join(10)
            if thread.is_alive():  # pragma: no cover - only on a wedged loop
                server.force_exit = True
                thread.join(5)
            if sock is not None:
                sock.close()

    def __enter__(self) -> DSSEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state control -------------------------------------------------------------------------
    def _load(self, seed: dict[str, Any]) -> None:
        catalog = build_catalog(seed, self._api_key, int(self._engine.now() * 1000))
        self._engine.replace_catalog(catalog)
        enabled = self._time_triggers
        if enabled is None:
            enabled = bool(seed.get("time_triggers", False))
        self._engine.time_triggers = enabled

    @property
    def time_triggers(self) -> bool:
        """Whether temporal triggers fire by themselves (settable; counted from when switched on)."""
        return self._engine.time_triggers

    @time_triggers.setter
    def time_triggers(self, enabled: bool) -> None:
        self._engine.time_triggers = bool(enabled)

    def run_as_user(
        self, project_key: str, scenario_id: str, user: str = "ui_user", params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start a run as ``user`` would from the DSS UI (not through the API); the trigger fire."""
        from dss_provider.emulator.views import render_fire

        with self._engine.lock:
            return render_fire(self._engine.fire_as_user(project_key, scenario_id, user, params))

    def reset(self, seed: SeedLike = None) -> None:
        """Back to the constructor's seed (or ``seed`` for this once); clear faults and counters."""
        with self._engine.lock:
            self._load(self._seed if seed is None else load_seed(seed))
            self._engine.speed = self._speed
        self._faults.clear()
        self._faults.reset_counters()
        self._faults.seed(self._fault_seed)
        self._app.requests.clear()
        self._app.project_requests.clear()

    def _reset_from_http(self, seed: Any) -> None:
        self.reset(seed if isinstance(seed, dict) else None)

    def add_fault(self, rule: FaultRule | dict[str, Any] | None = None, **kwargs: Any) -> FaultRule:
        """Shortcut for ``faults.add``."""
        return self._faults.add(rule, **kwargs)

    def stats(self) -> dict[str, Any]:
        """Counters: per scenario (fires, cancellations, runs, outcomes, aborts), requests, faults."""
        out = self._engine.stats()
        requests = dict(sorted(self._app.requests.items()))
        faults = dict(sorted(self._faults.injected.items()))
        out.update(
            requests=requests,
            requests_total=sum(requests.values()),
            requests_by_project={
                k: dict(sorted(v.items())) for k, v in sorted(self._app.project_requests.items())
            },
            faults=faults,
            faults_total=sum(faults.values()),
        )
        return out

    # -- Airflow connection --------------------------------------------------------------------
    def connection_dict(self, **extra: Any) -> dict[str, Any]:
        """The Airflow connection as a dict (``extra`` entries go into ``extra``)."""
        return {"conn_type": "dataiku_dss", "host": self.url, "password": self._api_key, "extra": dict(extra)}

    def connection_json(self, **extra: Any) -> str:
        """The Airflow connection in JSON form (recommended)."""
        return json.dumps(self.connection_dict(**extra))

    def connection_uri(self, **extra: Any) -> str:
        """The Airflow connection in URI form; the ``scheme`` extra tells the hook to use plain http."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        uri = f"dataiku-dss://:{quote(self._api_key, safe='')}@{host}:{self._port}/"
        return uri + "?__extra__=" + quote(json.dumps({"scheme": "http", **extra}), safe="")

    def airflow_env(self, conn_id: str = "dataiku_dss_default", **extra: Any) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<CONN_ID>": <connection JSON>}`` for ``os.environ`` or monkeypatch."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(**extra)}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"DSSEmulator(url={self.url!r}, speed={self.speed}, {state})"
