"""Whether DSS surely did not see a request that failed: both hooks judge it by exception type, alike.

Over real sockets: a closed port (refused) and a listener whose accept queue is full (no connection
within the timeout) were never seen by DSS, so even a run request is sent again; the emulator dropping
the connection after reading the request, or answering too late, may have processed it, so a run
request is not sent again (the hook looks for the run it may have started instead).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSConnectionError
from dss_provider.hooks.dss import DSSHook
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.protocol import endpoints
from dss_provider.protocol.retry import DSSTransportError

from .helpers import free_port, set_conn

pytestmark = pytest.mark.timeout(60)

KEY = "never-sent-key-0d9c8b"


@contextmanager
def closed_port() -> Iterator[str]:
    """The URL of a port nothing listens on: connections are refused."""
    yield f"http://127.0.0.1:{free_port()}"


@contextmanager
def full_backlog() -> Iterator[str]:
    """The URL of a listener that never accepts and whose accept queue is full: connecting times out."""
    with ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(listener.getsockname())
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def _fail(kind: str, conn_id: str) -> DSSConnectionError:
    """Send one run request with one retry through the ``kind`` hook; the error it raises."""
    request = endpoints.run_scenario("DEMO", "BUILD_SALES")
    if kind == "sync":
        with pytest.raises(DSSConnectionError) as info:
            DSSHook(conn_id, retries=1).execute(request)
        return info.value

    async def send() -> None:
        async with DSSAsyncHook(conn_id, retries=1) as hook:
            await hook.execute(request)

    with pytest.raises(DSSConnectionError) as info:
        asyncio.run(send())
    return info.value


def _retried(caplog: pytest.LogCaptureFixture) -> int:
    return len([r for r in caplog.records if "retrying in" in r.getMessage()])


HOOKS = pytest.mark.parametrize("kind", ["sync", "async"])


@HOOKS
@pytest.mark.parametrize("server", [closed_port, full_backlog], ids=["refused", "connect-timeout"])
def test_no_connection_means_not_processed_and_the_run_request_is_sent_again(
    kind: str, server: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with server() as url:  # type: ignore[operator]
        set_conn(monkeypatch, "never_sent", host=url, password=KEY, extra={"timeout": "0.5"})
        error = _fail(kind, "never_sent")
    assert isinstance(error, DSSTransportError)
    assert error.maybe_processed is False
    assert "Could not get an answer from DSS" in str(error) and KEY not in str(error)
    assert _retried(caplog) == 1


@HOOKS
@pytest.mark.parametrize(
    "fault",
    [{"kind": "drop"}, {"kind": "latency", "latency": 1.5}],
    ids=["dropped-after-the-request", "read-timeout"],
)
def test_a_failure_after_the_request_may_have_been_processed_and_the_run_request_is_not_resent(
    kind: str,
    fault: dict[str, object],
    dss_emulator: DSSEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    set_conn(
        monkeypatch, "sent", host=dss_emulator.url, password=dss_emulator.api_key, extra={"timeout": "0.5"}
    )
    dss_emulator.faults.add({"route": "run", "count": 1, **fault})
    error = _fail(kind, "sent")
    assert isinstance(error, DSSTransportError)
    assert error.maybe_processed is True
    assert "Could not get an answer from DSS" in str(error)
    assert _retried(caplog) == 0
    assert dss_emulator.stats()["requests"]["run"] == 1
