"""The HTTP/1.1 transport of :class:`~dss_provider.hooks.dss_async.DSSAsyncHook`: httpcore (what httpx
runs on) over plain asyncio transports, with a LIFO free list of keep-alive connections.

Why not ``httpx.AsyncClient``: a triggerer holds thousands of waits, and every poll pays the client's
per-request cost. Measured on our 2-core machines (``benchmarks/scale.py``, bare GETs, 10 concurrent):
httpx 1.1-1.8 ms of CPU per request, httpcore's own pool 1.1 ms, this transport 0.3-0.4 ms. It uses only
httpcore's public extension points: ``AsyncHTTP11Connection`` (h11) and a network backend
(``connect_tcp`` returning an ``AsyncNetworkStream``). When a proxy is configured in the environment,
requests go through a plain ``httpx.AsyncClient`` instead (it applies ``HTTP(S)_PROXY``/``NO_PROXY``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dss_provider.hooks._asyncio_backend import AsyncioBackend
from dss_provider.hooks.connection import DSSConnectionConfig

if TYPE_CHECKING:
    import ssl

    import httpcore
    import httpx

#: Connections (and requests in flight) per shared client.
MAX_CONNECTIONS = 20
#: Seconds an idle keep-alive connection is kept (httpx's default).
KEEPALIVE_EXPIRY = 5.0


class _Client:
    """An HTTP/1.1 keep-alive client for one DSS origin over httpcore (what httpx runs on), without
    httpx's per-request model building and without httpcore's pool scan.

    Connections are kept in a LIFO free list; the caller bounds the requests in flight (``_Shared.slots``),
    so at most ``MAX_CONNECTIONS`` connections exist. Taking one is O(1) (one expiry check of the
    connection taken), where httpcore's pool rescans every connection and queued request on each request
    and each response close. Connections are httpcore's ``AsyncHTTP11Connection`` (h11) on plain asyncio
    transports (:class:`_AsyncioBackend`) rather than anyio streams. When an environment proxy applies to
    the DSS URL (httpx's ``trust_env`` rules), requests go through httpx's proxy pool for that URL instead.
    """

    __slots__ = (
        "_backend",
        "_closed",
        "_extensions",
        "_httpx",
        "_idle",
        "_keepalive",
        "_netloc",
        "_origin",
        "_ssl_context",
        "headers",
        "host",
        "port",
        "prefix",
        "scheme",
    )

    def __init__(self, config: DSSConnectionConfig) -> None:
        import httpcore

        parts = urlsplit(config.api_root)
        self.scheme = parts.scheme.encode("ascii")
        self.host = (parts.hostname or "").encode("idna")
        default_port = 443 if self.scheme == b"https" else 80
        self.port = parts.port or default_port
        self.prefix = parts.path.rstrip("/")
        netloc = b"[%b]" % self.host if b":" in self.host else self.host  # IPv6 literal
        host_header = netloc if self.port == default_port else b"%b:%d" % (netloc, self.port)
        self._netloc = host_header
        #: Host first, then the connection's headers (User-Agent, Accept, extra headers, Authorization).
        self.headers: list[tuple[bytes, bytes]] = [(b"Host", host_header)] + [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in config.headers().items()
        ]
        timeout = float(config.timeout)
        self._extensions = {
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        }
        self._origin = httpcore.Origin(self.scheme, self.host, self.port)
        self._ssl_context = _ssl_context(config) if self.scheme == b"https" else None
        self._keepalive = KEEPALIVE_EXPIRY
        self._backend: Any = AsyncioBackend()
        self._idle: list[httpcore.AsyncHTTP11Connection] = []
        self._closed = False
        #: With a proxy in the environment, httpx applies it (and NO_PROXY) for every request.
        self._httpx: httpx.AsyncClient | None = (
            _make_httpx_client(config, self._ssl_context) if _env_proxy_configured() else None
        )

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def request(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one request; (status, headers, body). Raises httpcore's exceptions."""
        import httpcore

        req = httpcore.Request(
            method,
            httpcore.URL(scheme=self.scheme, host=self.host, port=self.port, target=target),
            headers=headers,
            content=body,
            extensions=self._extensions,
        )
        if self._httpx is not None:
            return await self._request_through_httpx(method, target, headers, body)
        for _ in range(3):  # a connection that turns out unusable (ConnectionNotAvailable): take another
            conn = self._take() or await self._connect()
            try:
                response = await conn.handle_async_request(req)
                try:
                    content = await response.aread()
                finally:
                    await response.aclose()
            except httpcore.ConnectionNotAvailable:
                await _close_quietly(conn)
                continue
            except BaseException:
                await _close_quietly(conn)
                raise
            if not self._closed and conn.is_idle():
                self._idle.append(conn)
            else:
                await _close_quietly(conn)
            return response.status, response.headers, content
        raise httpcore.ConnectError("no usable connection to DSS")

    async def _request_through_httpx(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The proxy path; httpx's errors are given back as the httpcore errors they wrap."""
        import httpcore
        import httpx

        assert self._httpx is not None
        url = f"{self.scheme.decode()}://{self._netloc.decode('idna')}{target.decode('ascii')}"
        try:
            answer = await self._httpx.request(method, url, headers=headers, content=body)
        except httpx.TransportError as err:
            if isinstance(err.__cause__, httpcore.ConnectError | httpcore.ConnectTimeout):
                raise err.__cause__ from None
            if isinstance(err, httpx.ConnectError | httpx.ProxyError):
                raise httpcore.ConnectError(str(err)) from None
            raise httpcore.ReadError(str(err)) from None
        return answer.status_code, answer.headers.raw, answer.content

    def _take(self) -> httpcore.AsyncHTTP11Connection | None:
        """The most recently used idle connection still usable, else None."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.has_expired() and conn.is_idle():
                return conn
            self._expired(conn)
        return None

    async def _connect(self) -> httpcore.AsyncHTTP11Connection:
        """A new HTTP/1.1 connection (TCP, then TLS for https), as httpcore's ``AsyncHTTPConnection``
        makes it."""
        import httpcore

        timeout = self._extensions["timeout"]["connect"]
        hostname = self.host.decode("ascii")
        stream = await self._backend.connect_tcp(hostname, self.port, timeout=timeout)
        if self._ssl_context is not None:
            stream = await stream.start_tls(self._ssl_context, server_hostname=hostname, timeout=timeout)
        conn = httpcore.AsyncHTTP11Connection(
            origin=self._origin, stream=stream, keepalive_expiry=self._keepalive
        )
        return conn

    @staticmethod
    def _expired(conn: httpcore.AsyncHTTP11Connection) -> None:
        # Closing an idle connection does no I/O worth waiting for; let the loop finish it.
        task = asyncio.ensure_future(_close_quietly(conn))
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close_quietly(conn)
        if self._httpx is not None:
            await self._httpx.aclose()


_CLOSING: set[asyncio.Future[None]] = set()


async def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        await conn.aclose()


def _ssl_context(config: DSSConnectionConfig) -> ssl.SSLContext:
    """The TLS context httpx would build from the connection: verify bool / CA bundle, client cert."""
    import ssl

    import httpx

    if config.client_cert:
        context = ssl.create_default_context(cafile=config.verify if isinstance(config.verify, str) else None)
        if config.verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        cert = config.client_cert
        context.load_cert_chain(*(cert if isinstance(cert, tuple) else (cert,)))
    elif isinstance(config.verify, str):
        context = ssl.create_default_context(cafile=config.verify)
    else:
        return httpx.create_ssl_context(verify=config.verify)
    # What httpx adds to a context it is given (it is used as-is, so do it here): HTTP/1.1 over ALPN.
    context.set_alpn_protocols(["http/1.1"])
    return context


def _env_proxy_configured() -> bool:
    from urllib.request import getproxies

    proxies = getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def _make_httpx_client(config: DSSConnectionConfig, context: ssl.SSLContext | None) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        headers=config.headers(),
        verify=context if context is not None else True,
        timeout=httpx.Timeout(config.timeout),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
    )


def header_value(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def charset_of(content_type: str) -> str:
    """The body's encoding as httpx picks it: the Content-Type charset when known, else UTF-8."""
    if "charset=" in content_type:
        import codecs

        charset = content_type.split("charset=", 1)[1].split(";", 1)[0].strip().strip("\"'")
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"
