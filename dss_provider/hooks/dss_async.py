"""DSSAsyncHook: the same DSS requests over aiohttp, for triggers.

It executes the request descriptions of :mod:`dss_provider.protocol.endpoints` and the procedures of
:mod:`dss_provider.protocol.procedures`, with the same error mapping and retry rule as :class:`DSSHook`
(tenacity's ``AsyncRetrying`` over :func:`~dss_provider.protocol.retry.should_retry`). The connection is
fetched asynchronously. One ``aiohttp.ClientSession`` per (event loop, connection) is shared by every
trigger of that connection in a triggerer process; each trigger releases it in ``cleanup()`` and the
last one closes it.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import tenacity

from dss_provider.exceptions import DSSConfigurationError, DSSError
from dss_provider.hooks.connection import (
    DEFAULT_CONN_ID,
    DSSConnectionConfig,
    config_from_airflow_connection,
    connection_load_error,
)
from dss_provider.protocol import procedures
from dss_provider.protocol.endpoints import ApiRequest
from dss_provider.protocol.errors import decode_json, error_for_status, parse_retry_after
from dss_provider.protocol.retry import describe_exception, retrying_rule, should_retry, transport_error

if TYPE_CHECKING:
    import ssl

    import aiohttp
    from yarl import URL

log = logging.getLogger(__name__)

#: Connections (and so requests in flight) per shared session; more requests queue in the connector.
MAX_CONNECTIONS = 20
#: Seconds an idle keep-alive connection is kept.
KEEPALIVE_EXPIRY = 5.0
#: Characters left as they are in a request path (ids are validated and quoted already).
_PATH_SAFE = "/%!$&'()*+,;=:@[]~-._"
_JSON_HEADERS = {"Content-Type": "application/json"}


class _Shared:
    """One connection's aiohttp session on one event loop, and how many hooks use it."""

    __slots__ = ("config", "origin", "prefix", "proxy", "proxy_auth", "session", "slots", "users")

    def __init__(self, config: DSSConnectionConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session
        parts = urlsplit(config.api_root)
        #: ``scheme://host[:port]`` and the quoted API path prefix of every request URL.
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")
        self.proxy, self.proxy_auth = _env_proxy(config.api_root)
        self.users = 0
        #: Requests in flight, at most the pool size. Waiting here holds a future; waiting in the
        #: connector would hold a whole built request (headers, timers) per queued poll.
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)

    @property
    def client(self) -> _Shared:
        """The shared client (this entry; kept for callers that hold ``shared.client``)."""
        return self

    @property
    def is_closed(self) -> bool:
        return self.session.closed

    async def aclose(self) -> None:
        await self.session.close()

    def __repr__(self) -> str:
        return f"<DSS session {self.origin} users={self.users} closed={self.is_closed}>"


# Per event loop (a session is bound to the loop it was made on), then per connection id. Weak keys: a
# closed loop's entries go with it, and a new loop can never pick up an old loop's session.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = (
    weakref.WeakKeyDictionary()
)

#: Connection fetches in flight, per event loop, by (connection id, retries).
_FETCHING: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int | None], asyncio.Future[DSSConnectionConfig]]
] = weakref.WeakKeyDictionary()


def _shared_of_loop() -> dict[str, _Shared]:
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None:
        shared = _SHARED[loop] = {}
    return shared


class DSSAsyncHook:
    """Async DSS access for triggers.

    Use ``async with DSSAsyncHook(conn_id) as hook:`` or call :meth:`release` when done.
    """

    # One per trigger in a triggerer: no per-instance __dict__.
    __slots__ = ("_retries", "_shared", "dss_conn_id")

    def __init__(self, dss_conn_id: str = DEFAULT_CONN_ID, *, retries: int | None = None) -> None:
        if not isinstance(dss_conn_id, str) or not dss_conn_id:
            raise DSSConfigurationError(f"dss_conn_id must be a non-empty string, got {dss_conn_id!r}.")
        self.dss_conn_id = dss_conn_id
        self._retries = retries
        self._shared: _Shared | None = None

    async def __aenter__(self) -> DSSAsyncHook:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()

    async def acquire(self) -> _Shared:
        """Join (or create) the shared session of this connection on the running loop."""
        if self._shared is not None:
            return self._shared
        shared = _shared_of_loop().get(self.dss_conn_id)
        if shared is None or shared.is_closed:
            config = await self._fetch_config_once()
            if self._shared is not None:
                # Another acquire() of this same hook (concurrent first requests) got there first: join
                # once, or the shared session would count this hook twice and never close.
                return self._shared
            # Another hook of this connection may have created the session while we awaited.
            registry = _shared_of_loop()
            shared = registry.get(self.dss_conn_id)
            if shared is None or shared.is_closed:
                shared = registry[self.dss_conn_id] = _make_client(config)
        shared.users += 1
        self._shared = shared
        return shared

    async def release(self) -> None:
        """Leave the shared session; the last user closes it."""
        shared, self._shared = self._shared, None
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            registry = _shared_of_loop()
            if registry.get(self.dss_conn_id) is shared:
                del registry[self.dss_conn_id]
            await shared.aclose()

    async def _fetch_config_once(self) -> DSSConnectionConfig:
        """:meth:`_fetch_config`, shared by the hooks of this connection that ask at the same time.

        A triggerer starting thousands of triggers fetches the connection once, not once per trigger.
        """
        loop = asyncio.get_running_loop()
        pending = _FETCHING.get(loop)
        if pending is None:
            pending = _FETCHING[loop] = {}
        key = (self.dss_conn_id, self._retries)
        fetch = pending.get(key)
        if fetch is None:
            fetch = pending[key] = asyncio.ensure_future(self._fetch_config())

            def done(task: asyncio.Future[DSSConnectionConfig]) -> None:
                if pending.get(key) is task:
                    del pending[key]
                if not task.cancelled():
                    task.exception()  # retrieved: its waiters (if any are left) raise it

            fetch.add_done_callback(done)
        return await asyncio.shield(fetch)

    async def _fetch_config(self) -> DSSConnectionConfig:
        from dss_provider.compat import get_async_connection

        try:
            conn = await get_async_connection(self.dss_conn_id)
        except Exception as err:
            raise connection_load_error(self.dss_conn_id, err) from None
        config = config_from_airflow_connection(conn, self.dss_conn_id, retries=self._retries)
        await _amask(config.api_key)
        return config

    @property
    def config(self) -> DSSConnectionConfig:
        """The validated connection (after :meth:`acquire`)."""
        if self._shared is None:
            raise RuntimeError("DSSAsyncHook.acquire() must be awaited first")
        return self._shared.config

    async def execute(self, request: ApiRequest) -> Any:
        """Send one request with the sync hook's retry rule; the decoded answer (JSON, text or bytes).

        Up to ``retries`` more attempts after a failure that :func:`~dss_provider.protocol.retry.should_retry`
        accepts, waiting :func:`~dss_provider.protocol.retry.backoff_delay` (at least ``Retry-After``).
        """
        shared = self._shared or await self.acquire()
        # A free connection first: a queued request (thousands of triggers polling at once) holds only
        # this frame and the semaphore's future, nothing built for the request yet.
        slots = shared.slots
        await slots.acquire()
        try:
            return await self._send_once(shared, request)
        except Exception as err:
            retries = self._retries if self._retries is not None else shared.config.retries
            if retries < 1 or not should_retry(request, err):
                raise
            first = err
        finally:
            slots.release()
        return await self._retry(shared, request, retries, first)

    async def _retry(self, shared: _Shared, request: ApiRequest, retries: int, first: Exception) -> Any:
        """Only after a retryable failure: tenacity, handed that failure as its first attempt.

        So the attempts, waits and log lines are those of DSSHook.execute. (The success path, every poll
        of thousands of waits, skips building a retrying loop that would never loop.)
        """
        failed = [first]

        async def attempt() -> Any:
            if failed:
                raise failed.pop()
            async with shared.slots:
                return await self._send_once(shared, request)

        retrying = tenacity.AsyncRetrying(sleep=asyncio.sleep, **retrying_rule(request, retries, log))
        return await retrying(attempt)

    async def _send_once(self, shared: _Shared, request: ApiRequest) -> Any:
        # Imported on first use: a worker that only builds a trigger to defer never loads aiohttp (~100 ms).
        import aiohttp
        from yarl import URL

        target = shared.origin + quote(shared.prefix + request.path, safe=_PATH_SAFE)
        if request.query:
            target += "?" + urlencode(request.query)
        body = request.body_bytes()
        try:
            async with shared.session.request(
                request.method,
                URL(target, encoded=True),
                data=body,
                headers=_JSON_HEADERS if body is not None else None,
                proxy=shared.proxy,
                proxy_auth=shared.proxy_auth,
            ) as response:
                status = response.status
                content = await response.read()
                headers = response.headers
        except aiohttp.ClientSSLError as err:
            # A bad or unknown certificate, or https spoken to a plain-http port: retrying cannot help.
            raise transport_error(
                request,
                shared.config.api_root,
                f"TLS error ({describe_exception(err)})",
                maybe_processed=False,
                tls=True,
            ) from None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
            # Refused, unresolvable, unreachable (or the proxy), or no connection within the timeout:
            # DSS never saw the request.
            raise transport_error(
                request, shared.config.api_root, describe_exception(err), maybe_processed=False
            ) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            # Sent, then no usable answer (disconnected, read timeout, bad or truncated response).
            raise transport_error(
                request, shared.config.api_root, describe_exception(err), maybe_processed=True
            ) from None
        kind = request.response
        if status < 400 and kind == "bytes":
            return content
        content_type = headers.get("Content-Type", "")
        text = content.decode(_charset(response.charset), errors="replace")
        if status >= 400:
            error = error_for_status(request, status, text, content_type)
            error.retry_after = parse_retry_after(headers.get("Retry-After"))
            raise error
        if kind == "json":
            return decode_json(request, status, text)
        return text

    async def run_procedure(self, procedure: procedures.Procedure) -> Any:
        """Drive a sans-IO procedure, like :meth:`DSSHook.run_procedure`."""
        try:
            request = next(procedure)
            while True:
                try:
                    answer = await self.execute(request)
                except DSSError as err:
                    request = procedure.throw(err)
                else:
                    request = procedure.send(answer)
        except StopIteration as stop:
            return stop.value


def _make_client(config: DSSConnectionConfig) -> _Shared:
    """A new shared session for ``config`` (on the running loop)."""
    import aiohttp

    timeout = float(config.timeout)
    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS,
        keepalive_timeout=KEEPALIVE_EXPIRY,
        ssl=_ssl_context(config) if config.api_root.startswith("https:") else True,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        headers=config.headers(),
        # No total timeout: waiting for a free connection is queueing, not DSS being slow.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
        # Proxies are read from the environment once per session (_env_proxy), not on every request
        # (trust_env does it per request in a thread, and would let ~/.netrc replace the API key).
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )
    return _Shared(config, session)


def _ssl_context(config: DSSConnectionConfig) -> ssl.SSLContext:
    """The connection's TLS options as requests applies them.

    They are verify (CA bundle, else certifi's CAs), verify_ssl=false, client certificate and key.
    """
    import ssl

    import certifi

    verify = config.verify
    try:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else certifi.where())
        if verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if config.client_cert:
            cert = config.client_cert
            context.load_cert_chain(*(cert if isinstance(cert, tuple) else (cert,)))
    except (OSError, ssl.SSLError) as err:
        raise DSSConfigurationError(
            f"Connection {config.conn_id!r}: could not load its ca_bundle/client_cert/client_key "
            f"({describe_exception(err)}). Check the files exist, are readable and are PEM."
        ) from None
    return context


def _env_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy aiohttp's ``trust_env`` would use for ``url`` (HTTP(S)_PROXY, NO_PROXY), else None."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


def _charset(charset: str | None) -> str:
    """The body's encoding: the Content-Type charset when Python knows it, else UTF-8."""
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"


async def _amask(secret: str) -> None:
    try:
        from dss_provider.compat import amask_secret

        await amask_secret(secret)
    except Exception:  # masking is best effort outside a triggerer
        log.debug("Could not register the API key with the secrets masker")


def open_clients() -> list[tuple[str, _Shared]]:
    """The shared sessions still open, across event loops, as (connection id, entry): for tests."""
    return [(conn_id, entry) for loops in list(_SHARED.values()) for conn_id, entry in loops.items()]
