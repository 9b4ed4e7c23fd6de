"""An httpcore network backend on plain asyncio transports (``loop.create_connection`` + a Protocol).

httpcore's default backend goes through anyio streams, which cost a cancel scope and extra event-loop
round trips per read and write; with thousands of waits in one triggerer that is most of a poll's CPU.
This implements httpcore's public ``AsyncNetworkBackend``/``AsyncNetworkStream`` interface (read, write,
start_tls, close, extra info) with the same exceptions (``ReadTimeout``, ``ReadError``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl


#: Read buffer size above which the socket stops being read until httpcore catches up.
_READ_HIGH_WATER = 256 * 1024


class _StreamProtocol(asyncio.Protocol):
    """Bytes in, through one waiter; what :class:`_AsyncioStream` reads and writes."""

    __slots__ = ("buffer", "closed", "eof", "error", "paused", "transport", "waiter", "write_waiter")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None
        self.eof = False
        self.closed = False
        self.paused = False
        self.error: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _READ_HIGH_WATER and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = self.closed = True
        self.error = exc
        self._wake()
        waiter, self.write_waiter = self.write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        if self.write_waiter is None:
            self.write_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter, self.write_waiter = self.write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _wait(waiter: asyncio.Future[None], timeout: float | None) -> None:
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


class _AsyncioStream:
    """httpcore's network stream on a plain asyncio transport: the same exceptions as httpcore's anyio
    backend, without its cancel scope, checkpoints and attribute lookups on every read and write."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        import httpcore

        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            protocol.waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(waiter, timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout("timed out") from None
        buffer = protocol.buffer
        if not buffer:
            if protocol.error is not None:
                raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
            return b""
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if protocol.paused and len(buffer) <= _READ_HIGH_WATER // 4 and not protocol.closed:
            protocol.paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        import httpcore

        if not buffer:
            return
        protocol = self._protocol
        if protocol.closed or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        try:
            self._transport.write(buffer)
        except (OSError, RuntimeError) as err:
            raise httpcore.WriteError(str(err)) from None
        if protocol.write_waiter is not None:
            try:
                await _wait(protocol.write_waiter, timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out") from None
            if protocol.closed and protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error))

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> _AsyncioStream:
        import ssl

        import httpcore

        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport,
                self._protocol,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except (TimeoutError, asyncio.TimeoutError) as err:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(err) or "TLS handshake timed out") from None
        except (ssl.SSLError, OSError) as err:
            self._transport.close()
            if isinstance(err, ConnectionAbortedError) and "taking longer" in str(err):
                raise httpcore.ConnectTimeout("TLS handshake timed out") from None  # asyncio's timeout
            raise httpcore.ConnectError(str(err)) from None
        if transport is None:
            self._transport.close()
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        return _AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # The loop already told the protocol about data or a close: no syscall needed.
            protocol = self._protocol
            return protocol.eof or bool(protocol.buffer)
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend:
    """httpcore's network backend on asyncio transports (see :class:`_AsyncioStream`)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> _AsyncioStream:
        import socket

        import httpcore

        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(
                    _StreamProtocol, host, port, local_addr=(local_address, 0) if local_address else None
                ),
                timeout,
            )
        except (TimeoutError, asyncio.TimeoutError):
            raise httpcore.ConnectTimeout("timed out") from None
        except OSError as err:
            raise httpcore.ConnectError(str(err)) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        return _AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> Any:
        raise NotImplementedError("unix sockets are not used for DSS")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
