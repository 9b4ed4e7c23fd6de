"""The session-wide secrets scan, whatever the order of the tests and however many workers run them.

Every test of the reliability suite scans what it produced at its teardown (its ``rec`` fixture, autouse:
kept texts such as XComs, exception texts, trigger kwargs and events, captured stdout/stderr, log lines)
and fails if the API key is in it. It records what it scanned in its report's ``user_properties``
under :data:`SCAN_PROPERTY`; pytest-xdist sends those reports to the controller, where this plugin
(loaded by ``tests/conftest.py``) sums them up for the whole session. When tests that talked to the
emulator (so held its key) ran but their scans read no log line at all, the session fails: a scan with
nothing to scan proves nothing (the log capture is broken).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

#: The ``user_properties`` name of one test's scan: ``{"texts": int, "chars": int, "leaks": [str]}``.
SCAN_PROPERTY = "secret_scan"


@dataclass
class ScanTotals:
    """What the tests of this session scanned, summed over their reports."""

    tests: int = 0
    texts: int = 0
    chars: int = 0
    leaks: list[str] = field(default_factory=list)
    #: Tests that talked to the emulator (they hold the key), and the log characters their scans read.
    expecting: int = 0
    expecting_log_chars: int = 0

    def add(self, nodeid: str, scan: dict[str, Any]) -> None:
        self.tests += 1
        self.texts += int(scan["texts"])
        self.chars += int(scan["chars"])
        self.leaks += [f"{nodeid}: {where}" for where in scan["leaks"]]
        if scan.get("expects_material"):
            self.expecting += 1
            self.expecting_log_chars += int(scan.get("log_chars", 0))

    @property
    def empty(self) -> bool:
        """Tests that talked to the emulator ran, and their scans read no log line at all."""
        return self.expecting > 0 and self.expecting_log_chars == 0


TOTALS = ScanTotals()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":  # the scan runs at the end of the teardown, once per test
        return
    for name, value in report.user_properties:
        if name == SCAN_PROPERTY:
            TOTALS.add(report.nodeid, value)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller sums up
        return
    if TOTALS.empty or TOTALS.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not TOTALS.tests:
        return
    terminalreporter.write_line(
        f"secret scan: {TOTALS.tests} tests, {TOTALS.texts} texts, {TOTALS.chars} characters, "
        f"{len(TOTALS.leaks)} leaks; {TOTALS.expecting} tests talked to the emulator, their scans read "
        f"{TOTALS.expecting_log_chars} log characters"
    )
    for leak in TOTALS.leaks:
        terminalreporter.write_line(f"API KEY LEAKED in {leak}", red=True)
    if TOTALS.empty:
        terminalreporter.write_line(
            "secret scan FAILED: the tests that talked to the emulator left no log line to scan", red=True
        )
