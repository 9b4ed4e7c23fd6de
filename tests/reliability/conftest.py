"""Reliability suite set-up: one emulator with a distinctive API key, fast backoff, a session-wide
collector of figures (printed as a table at the end of the run and written to
``.cache/reliability-report.md``), and a secrets scan, at the end of every test, of every log line,
captured output, exception text, trigger kwargs and XCom the suite produces (``rec``, autouse).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dss_provider.emulator.server import DSSEmulator
from tests.secret_scan import SCAN_PROPERTY

from .helpers import API_KEY, CONN_ID, REPO, connection_json

#: The emulator runs scripted durations this many times faster (BUILD_SALES ~0.1 s, LONG_REFRESH 1.2 s).
SPEED = 50.0
REPORT_PATH = REPO / ".cache" / "reliability-report.md"

#: Forms of the key that would betray it: raw, and inside a Basic authorization header.
SECRET_FORMS = (
    API_KEY,
    base64.b64encode(f"{API_KEY}:".encode()).decode("ascii"),
    base64.b64encode(f"{API_KEY}:".encode()).decode("ascii").rstrip("="),
)


# --- the collector ---------------------------------------------------------------------------------


@dataclass
class Figures:
    """What the suite measured, summed over every test."""

    faults: Counter[str] = field(default_factory=Counter)
    survived: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    runs_fired: int = 0
    runs_expected: int = 0
    aborts_requested: int = 0
    aborts_seen: int = 0
    bad_tried: int = 0
    bad_clear: int = 0
    bad_unclear: list[tuple[str, str]] = field(default_factory=list)
    texts_scanned: int = 0
    chars_scanned: int = 0
    leaks: list[str] = field(default_factory=list)

    def scan(self, where: str, text: str) -> list[str]:
        """Record a text as scanned; the secret forms found in it."""
        self.texts_scanned += 1
        self.chars_scanned += len(text)
        found = [form for form in SECRET_FORMS if form and form in text]
        if found:
            self.leaks.append(where)
        return found

    def table(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        reasons = Counter(reason for _, reason in self.failed)
        failed = "; ".join(f"{n} x {r}" for r, n in reasons.most_common()) or "none"
        rows = [
            ("Faults injected by kind", f"{sum(self.faults.values())} ({faults})"),
            ("Tasks that survived faults", str(len(self.survived))),
            ("Tasks failed (as expected, with a clear error)", f"{len(self.failed)}: {failed}"),
            ("Runs fired vs runs expected", f"{self.runs_fired} / {self.runs_expected}"),
            ("Aborts requested vs aborts seen by DSS", f"{self.aborts_requested} / {self.aborts_seen}"),
            ("Bad inputs tried vs clear errors", f"{self.bad_tried} / {self.bad_clear}"),
            (
                "Secret scan (texts / characters / leaks)",
                f"{self.texts_scanned} / {self.chars_scanned} / {len(self.leaks)}",
            ),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"| {'Figure':<{width}} | Value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
        if self.bad_unclear:
            lines.append("")
            lines += [f"- unclear bad input: {name}: {why}" for name, why in self.bad_unclear]
        if self.leaks:
            lines.append("")
            lines += [f"- API KEY LEAKED in: {where}" for where in self.leaks]
        return "\n".join(lines)


FIGURES = Figures()


class Recorder:
    """Per-test handle on the collector: what the test expected, and what it saw."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.expected_runs = 0
        self.expected_aborts = 0
        self.extra_faults: Counter[str] = Counter()
        self.texts: list[tuple[str, str]] = []

    def expect_runs(self, n: int) -> None:
        self.expected_runs += n

    def abort_requested(self, n: int = 1) -> None:
        self.expected_aborts += n

    def fault(self, kind: str, n: int = 1) -> None:
        """A fault the emulator does not count itself (it was stopped, or the TLS/port was wrong)."""
        self.extra_faults[kind] += n

    def survived(self, task: str) -> None:
        FIGURES.survived.append(f"{self.name}:{task}")

    def failed(self, task: str, err: BaseException) -> None:
        reason = f"{type(err).__name__}"
        FIGURES.failed.append((f"{self.name}:{task}", reason))
        self.keep(f"exception of {task}", f"{err!s}\n{err!r}")

    def keep(self, where: str, value: Any) -> None:
        """A text (or JSON-able value) to scan for the key at the end of the test."""
        text = value if isinstance(value, str) else json.dumps(value, default=repr)
        self.texts.append((where, text))

    def bad_input(self, case: str, clear: bool, why: str = "") -> None:
        FIGURES.bad_tried += 1
        if clear:
            FIGURES.bad_clear += 1
        else:
            FIGURES.bad_unclear.append((case, why))


class _Sink(logging.Handler):
    """Keeps every log record of the session (formatted, with tracebacks) for the secrets scan."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        #: How many lines the per-test scans have read so far.
        self.scanned = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a broken record must not break a test
            self.lines.append(f"{record.name} unformattable {record.msg!r} {record.args!r}")


SINK = _Sink()


# --- session fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _log_everything() -> Iterator[None]:
    """Every log record of this process goes to SINK; at the end, the lines no test scanned are scanned."""
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(SINK)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(SINK)
        root.setLevel(old_level)
        rest = "\n".join(SINK.lines[SINK.scanned :])
        SINK.scanned = len(SINK.lines)
        assert not FIGURES.scan("logs after the last test", rest), "the API key leaked into the logs"


@pytest.fixture(scope="session")
def dss_emulator_server() -> Iterator[DSSEmulator]:
    """One emulator for the suite, with the distinctive key; the ``dss_emulator`` fixture resets it."""
    with DSSEmulator(speed=SPEED, api_key=API_KEY, fault_seed=7) as dss:
        yield dss


@pytest.fixture
def backoff_seconds() -> tuple[float, float]:
    """Backoff in tens of milliseconds (see ``fast_backoff`` in tests/conftest.py): ten retries outlast
    the 1 s bursts of faults the suite injects."""
    return 0.02, 0.2


@pytest.fixture
def hook_retries() -> None:
    """The ``hook`` fixture retries as the suite's connection says (``RETRIES``)."""
    return None


@pytest.fixture(autouse=True)
def rec(request: pytest.FixtureRequest, capfd: pytest.CaptureFixture[str]) -> Iterator[Recorder]:
    """Every test's recorder (autouse: every test of the suite is scanned, whatever the order).

    At teardown the texts the test kept (XComs, exception texts, trigger kwargs and events...), its
    captured stdout/stderr and every log line since the previous scan are scanned for the key; what was
    scanned goes to the test's report (``user_properties``), which ``tests/secret_scan.py`` sums up
    over the whole session, across pytest-xdist workers too.
    """
    recorder = Recorder(request.node.name)
    yield recorder
    out, err = capfd.readouterr()
    lines = SINK.lines[SINK.scanned :]
    SINK.scanned += len(lines)
    texts = [*recorder.texts, ("stdout", out), ("stderr", err), ("logs", "\n".join(lines))]
    leaks = [where for where, text in texts if FIGURES.scan(f"{recorder.name}: {where}", text)]
    scanned = [text for _, text in texts if text]
    scan = {
        "texts": len(scanned),
        "chars": sum(map(len, scanned)),
        "log_chars": len(texts[-1][1]),
        "leaks": leaks,
        # A test that talked to the emulator holds the key: its scan must have had something to read.
        "expects_material": "dss_emulator" in request.fixturenames,
    }
    request.node.user_properties.append((SCAN_PROPERTY, scan))
    assert not leaks, f"the API key leaked into: {leaks}"


@pytest.fixture
def dss_emulator(
    dss_emulator: DSSEmulator, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DSSEmulator]:
    """The suite's emulator, reset, up, with ``dataiku_dss_default`` pointing at it (2 retries, 5 s timeout).

    At teardown the emulator's own counters feed the figures: faults by kind, fires, aborts.
    """
    dss_emulator.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(dss_emulator))
    yield dss_emulator
    dss_emulator.start()  # a test that stopped it leaves it up for the next one
    dss_emulator.faults.clear()
    stats = dss_emulator.stats()
    rec.keep("emulator stats", stats)
    FIGURES.faults.update(stats.get("faults") or {})
    FIGURES.faults.update(rec.extra_faults)
    scenarios = (stats.get("scenarios") or {}).values()
    FIGURES.runs_fired += sum(s["fires_accepted"] for s in scenarios)
    FIGURES.runs_expected += rec.expected_runs
    FIGURES.aborts_requested += rec.expected_aborts
    FIGURES.aborts_seen += sum(s["runs_aborted"] for s in scenarios)
    # Each test also asserts its own numbers; this catches a test that forgot to declare them.
    fired = sum(s["fires_accepted"] for s in scenarios)
    assert fired == rec.expected_runs, f"{fired} fire(s) reached DSS, {rec.expected_runs} expected"
    aborted = sum(s["runs_aborted"] for s in scenarios)
    assert aborted == rec.expected_aborts, f"{aborted} run(s) aborted in DSS, {rec.expected_aborts} expected"


# --- the report ------------------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not (FIGURES.texts_scanned or FIGURES.bad_tried or FIGURES.survived or FIGURES.failed):
        return
    table = FIGURES.table()
    terminalreporter.section("Dataiku DSS provider: reliability report")
    terminalreporter.write_line(table)
    try:
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        REPORT_PATH.write_text(f"<!-- pytest tests/reliability, {stamp} -->\n{table}\n", encoding="utf-8")
        terminalreporter.write_line(f"(written to {REPORT_PATH.relative_to(REPO)})")
    except OSError as err:  # the report is a convenience; never fail the run for it
        terminalreporter.write_line(f"(could not write {REPORT_PATH}: {err})")
