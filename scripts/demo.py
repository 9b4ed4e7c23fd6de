"""``make demo``: run an example DAG against the embedded Dataiku DSS emulator and summarize it.

What it does, from nothing but the virtualenv:

1. creates a throw-away ``AIRFLOW_HOME`` (sqlite metadata DB, dags folder = ``example_dags/``) and runs
   ``airflow db migrate`` in it;
2. starts the DSS emulator (built-in demo seed, accelerated) in this process and points the
   ``dataiku_dss_default`` connection at it through ``AIRFLOW_CONN_DATAIKU_DSS_DEFAULT`` (no DB edits);
3. runs ``airflow dags test <dag_id>`` (a subprocess; its output goes to ``.demo/demo.log``, key lines
   are echoed, warnings and errors whole);
4. prints one line per task: state, DSS run id, outcome, duration, run URL (read from the metadata DB's
   XComs and the emulator's own state);
5. stops the emulator, also on Ctrl-C, SIGTERM or failure. The exit code is the DAG run's
   (0 when it succeeded).

The emulator's API key is never printed.

The temporary home is removed at the end, so nothing stays in ``/tmp``; the full log is kept in
``.demo/demo.log`` of the checkout (git-ignored) and its path is printed.

Usage: ``python scripts/demo.py [--dag-id ID] [--speed F] [--timeout S]``; ``--event-driven`` runs the
event-driven example under a real triggerer instead (``scripts/demo_event_driven.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "example_dags"
LOG = REPO / ".demo" / "demo.log"
DEFAULT_DAG = "dss_run_and_wait"
#: structlog line: ``<timestamp> [<level>] <message> [<logger>] key=value ...``
STRUCTLOG = re.compile(
    r"^\d{4}-\d\d-\d\dT\S+\s+\[(?P<level>\w+)\s*\]\s+(?P<msg>.*?)(?:\s+\[[\w.]+\](?:\s+\w+=.*)?)?$"
)
#: Messages of ``airflow dags test`` echoed while it runs (everything goes to the log file).
KEY_MESSAGES = re.compile(
    r"^(\[DAG TEST\] (starting task_id|running trigger)|Fired DSS|Trigger fire|Run \S+: step|DSS |Abort|"
    r"Marking run|Task failed|.*(Error|Exception):)"
)
#: The last line of a traceback: ``package.module.SomeError: message``.
EXCEPTION_LINE = re.compile(r"^(?:[a-z_]\w*\.)*(?P<name>[A-Z]\w+): (?P<msg>.+)$")
#: Never echo anything that looks like a credential, whatever the log line.
SECRETISH = re.compile(r"(password|api[_-]?key|authorization|AIRFLOW_CONN_)", re.IGNORECASE)


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived: stop the DAG run and the emulator, then exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _airflow_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="120",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(
            [
                {
                    "name": "dags-folder",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(DAGS)},
                }
            ]
        ),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


def _airflow_bin() -> str:
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


def _run_logged(
    cmd: list[str], env: dict[str, str], log: IO[str], timeout: float, echo: bool
) -> tuple[int, bool]:
    """Run ``cmd`` in its own process group, output to ``log`` (key lines echoed); (code, timed out)."""
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        assert proc.stdout is not None
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if not sel.select(timeout=min(remaining, 1.0)):
                if proc.poll() is not None:
                    break
                continue
            line = proc.stdout.readline()
            if not line:
                break
            log.write(line)
            shown = _pretty(line) if echo else None
            if shown and not SECRETISH.search(shown):
                print("   | " + shown, flush=True)
        sel.close()
        if timed_out:
            _stop(proc)
            return 124, True
        return proc.wait(timeout=30), False
    except BaseException:
        _stop(proc)
        raise
    finally:
        log.flush()


def _pretty(line: str, width: int = 160) -> str | None:
    """The short form of a key line of ``airflow dags test``, or None to keep it out of the console."""
    line = line.rstrip()
    match = STRUCTLOG.match(line)
    if match is None:  # what tasks print(), tracebacks: only the exception line
        raised = EXCEPTION_LINE.match(line)
        return f"   {raised['name']}: {raised['msg']}" if raised else None
    msg = match["msg"]
    if not KEY_MESSAGES.search(msg) or re.search(r": step \d+ .* started$", msg):
        return None
    msg = re.sub(r":? \(?https?://\S+?\)?(?=$|\s)", "", msg)  # the URLs are in the summary table
    msg = re.sub(r"^\[DAG TEST\] starting task_id=(\S+) map_index=(-1|(\d+))", r"-- task \1[\3]", msg)
    msg = msg.replace("[]", "")
    msg = re.sub(r"^Marking run <DagRun (\S+) .*> (\w+)$", r"-- DAG run of \1 \2", msg)
    if match["level"] != "info":  # a warning or error is shown whole: its message is the point
        return f"{match['level'].upper()}: {msg}"
    return _cut(msg, width)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --- reading the result ---------------------------------------------------------------------------


def _xcom_value(raw: Any) -> Any:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def read_dag_run(db_path: Path, dag_id: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The last DAG run's state and, per task instance, its state and XComs (from the sqlite DB)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        run = con.execute(
            "SELECT id, run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        if run is None:
            return None, []
        tis = con.execute(
            "SELECT task_id, map_index, state, start_date, end_date FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? ORDER BY start_date IS NULL, start_date, task_id, map_index",
            (dag_id, run["run_id"]),
        ).fetchall()
        xcoms = con.execute(
            "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
            (dag_id, run["run_id"]),
        ).fetchall()
    finally:
        con.close()
    by_ti: dict[tuple[str, int], dict[str, Any]] = {}
    for x in xcoms:
        by_ti.setdefault((x["task_id"], x["map_index"]), {})[x["key"]] = _xcom_value(x["value"])
    rows = [
        {
            "task_id": ti["task_id"],
            "map_index": ti["map_index"],
            "state": ti["state"],
            "xcom": by_ti.get((ti["task_id"], ti["map_index"]), {}),
        }
        for ti in tis
    ]
    return run["state"], rows


RUN_URL = re.compile(r"/projects/(?P<project_key>[^/]+)/scenarios/(?P<scenario_id>[^/]+)/runs/list/")


def _emulator_run(
    emulator: Any, project_key: str, scenario_id: str, run_id: str
) -> tuple[str | None, float | None]:
    """(outcome, duration) of a run as the emulator saw it (for tasks that failed before returning)."""
    try:
        sc = emulator.state.get_scenario(project_key, scenario_id)
        with emulator.state.lock:
            r = sc.runs.get(run_id)
            if r is None:
                return None, None
            if not r.finished:
                return "RUNNING", None
            return r.outcome, max(0.0, r.end - r.start)
    except Exception:
        return None, None


def summarize(emulator: Any, rows: list[dict[str, Any]]) -> list[list[str]]:
    """One row per task instance: state, and for DSS run tasks the run id, outcome, duration and URL."""
    table = [["task", "state", "DSS run id", "outcome", "duration", "run URL"]]
    for row in rows:
        xcom = row["xcom"]
        value = xcom.get("return_value")
        result: dict[str, Any] = value if isinstance(value, dict) else {}
        run_id = result.get("run_id") or xcom.get("run_id")
        if isinstance(value, str) and re.fullmatch(r"\d{4}(-\d+){6}", value):
            run_id = value  # a DSSTriggerFireSensor returns the run id
        url = result.get("url") or xcom.get("run_url")
        outcome, duration = result.get("outcome"), result.get("duration")
        where = RUN_URL.search(url or "")
        if run_id and outcome is None and where and "steps" not in result:
            # the task failed before returning its run dict: ask the emulator what happened to the run
            outcome, duration = _emulator_run(emulator, where["project_key"], where["scenario_id"], run_id)
        task = row["task_id"] + (f"[{row['map_index']}]" if row["map_index"] >= 0 else "")
        table.append(
            [
                task,
                str(row["state"] or "-"),
                str(run_id or "-"),
                str(outcome or "-"),
                f"{duration:.1f}s" if isinstance(duration, (int, float)) else "-",
                str(url) if run_id and url else "-",
            ]
        )
    return table


def print_table(table: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def emulator_totals(emulator: Any) -> str:
    stats = emulator.stats()["scenarios"]
    parts = []
    for name, c in stats.items():
        if c["fires_accepted"] or c["runs_started"]:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(c["runs_by_outcome"].items())) or "none ended"
            parts.append(f"{name}: {c['runs_started']} run(s) ({outcomes})")
    return "; ".join(parts) or "no scenario was run"


# --- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dag-id", default=DEFAULT_DAG, help=f"example DAG to run (default {DEFAULT_DAG})")
    parser.add_argument("--speed", type=float, default=4.0, help="emulator speed factor (default 4)")
    parser.add_argument("--timeout", type=float, default=150.0, help="limit of the DAG run, seconds")
    parser.add_argument(
        "--event-driven",
        action="store_true",
        help="run example_dss_event_driven under a real triggerer (PostgreSQL + Airflow processes; "
        "see scripts/demo_event_driven.py) instead of airflow dags test",
    )
    args = parser.parse_args(argv)
    if args.event_driven:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from demo_event_driven import run as run_event_driven

        return run_event_driven()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="dss-provider-demo-"))
    log_path = LOG
    log_path.parent.mkdir(exist_ok=True)
    env = _airflow_env(home)
    emulator = None
    code = 1
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            _say(f"AIRFLOW_HOME={home} (removed at the end; log: {log_path})")
            _say("airflow db migrate ...")
            rc, timed_out = _run_logged([_airflow_bin(), "db", "migrate"], env, log, timeout=300, echo=False)
            if rc != 0:
                _say(f"airflow db migrate failed (exit {rc}); see {log_path}")
                return rc or 1

            from dss_provider.emulator import DSSEmulator

            emulator = DSSEmulator(speed=args.speed)
            emulator.start()
            env.update(emulator.airflow_env())  # AIRFLOW_CONN_DATAIKU_DSS_DEFAULT (JSON form)
            _say(
                f"DSS emulator at {emulator.url} (demo seed, speed x{args.speed:g}); "
                "connection dataiku_dss_default set through AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"
            )
            _say(f"airflow dags test {args.dag_id} ...")
            t0 = time.monotonic()
            code, timed_out = _run_logged(
                [_airflow_bin(), "dags", "test", args.dag_id], env, log, timeout=args.timeout, echo=True
            )
            took = time.monotonic() - t0

        dag_state, rows = read_dag_run(home / "airflow.db", args.dag_id)
        print()
        if timed_out:
            _say(f"the DAG run did not finish within {args.timeout:g}s and was stopped")
        print(f"DAG {args.dag_id}: {dag_state or 'no run'} in {took:.1f}s (exit code {code})")
        if rows:
            print_table(summarize(emulator, rows))
        print(f"DSS emulator saw: {emulator_totals(emulator)}")
        print(f"Full log: {log_path}")
        if code == 0 and dag_state not in (None, "success"):
            code = 1
        return code
    except Interrupted as stop:
        print()
        _say(f"interrupted ({stop}); stopping. Log: {log_path}")
        return 128 + stop.signum
    except Exception as err:
        _say(f"failed: {type(err).__name__}: {err}. Log: {log_path}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if emulator is not None:
            emulator.stop()
            _say("DSS emulator stopped")
        shutil.rmtree(home, ignore_errors=True)
        _say(f"done in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
