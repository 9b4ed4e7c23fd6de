"""DSSAsyncHook: the same DSS requests over httpcore (httpx's transport), for triggers.

It executes the request descriptions of :mod:`dss_provider.api.endpoints` and the procedures of
:mod:`dss_provider.api.procedures`, with the same error mapping and retry policy as :class:`DSSHook`.
The connection is fetched asynchronously. One pooled client per (event loop, connection) is shared by
every trigger of that connection in a triggerer process; each trigger releases it in ``cleanup()`` and
the last one closes it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from dss_provider.api import procedures
from dss_provider.api.endpoints import ApiRequest
from dss_provider.api.errors import decode_json, error_for_status, parse_retry_after
from dss_provider.api.retry import backoff_delay, describe_exception, should_retry, transport_error
from dss_provider.exceptions import DSSConfigurationError, DSSError
from dss_provider.hooks._async_transport import MAX_CONNECTIONS, _Client, charset_of, header_value
from dss_provider.hooks.connection import (
    DEFAULT_CONN_ID,
    DSSConnectionConfig,
    config_from_airflow_connection,
    connection_load_error,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

#: Characters left as they are in a request path (httpx's set; ids are validated and quoted already).
_PATH_SAFE = "/%!$&'()*+,;=:@[]~-._"
_JSON_CONTENT_TYPE = (b"Content-Type", b"application/json")


@dataclass
class _Shared:
    config: DSSConnectionConfig
    client: _Client
    users: int = 0
    #: Requests in flight on this client, at most the pool size: waiting here is O(1).
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONNECTIONS))


# Per event loop (a client is bound to the loop it was made on), then per connection id. Weak keys: a
# closed loop's entries go with it, and a new loop can never pick up an old loop's client.
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
    """Async DSS access for triggers. Use ``async with DSSAsyncHook(conn_id) as hook:`` or call
    :meth:`release` when done."""

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
        """Join (or create) the shared client of this connection on the running loop."""
        if self._shared is not None:
            return self._shared
        shared = _shared_of_loop().get(self.dss_conn_id)
        if shared is None or shared.client.is_closed:
            config = await self._fetch_config_once()
            if self._shared is not None:
                # Another acquire() of this same hook (concurrent first requests) got there first: join
                # once, or the shared client would count this hook twice and never close.
                return self._shared
            # Another hook of this connection may have created the client while we awaited.
            registry = _shared_of_loop()
            shared = registry.get(self.dss_conn_id)
            if shared is None or shared.client.is_closed:
                shared = registry[self.dss_conn_id] = _Shared(config, _make_client(config))
        shared.users += 1
        self._shared = shared
        return shared

    async def release(self) -> None:
        """Leave the shared client; the last user closes it."""
        shared, self._shared = self._shared, None
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            registry = _shared_of_loop()
            if registry.get(self.dss_conn_id) is shared:
                del registry[self.dss_conn_id]
            await shared.client.aclose()

    async def _fetch_config_once(self) -> DSSConnectionConfig:
        """:meth:`_fetch_config`, shared by the hooks of this connection that ask at the same time (a
        triggerer starting thousands of triggers fetches the connection once, not once per trigger)."""
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
        if self._shared is None:
            raise RuntimeError("DSSAsyncHook.acquire() must be awaited first")
        return self._shared.config

    async def execute(self, request: ApiRequest) -> Any:
        """Send one request with the shared retry policy; the decoded answer.

        Up to ``retries`` more attempts after a failure that :func:`should_retry` accepts, waiting
        :func:`backoff_delay` (attempt number, error) in between: the policy :class:`DSSHook` follows.
        """
        shared = self._shared or await self.acquire()
        attempt = 1
        while True:
            try:
                return await self._send_once(shared, request)
            except Exception as err:
                retries = self._retries if self._retries is not None else shared.config.retries
                if attempt > retries or not should_retry(request, err):
                    raise
                await asyncio.sleep(backoff_delay(attempt, err))
                attempt += 1

    async def _send_once(self, shared: _Shared, request: ApiRequest) -> Any:
        import httpcore

        client = shared.client
        target = quote(client.prefix + request.path, safe=_PATH_SAFE)
        if request.query:
            target += "?" + urlencode(request.query)
        body = request.body_bytes()
        headers = client.headers
        if body is not None:
            headers = [*headers, _JSON_CONTENT_TYPE, (b"Content-Length", b"%d" % len(body))]
        elif request.method in ("POST", "PUT", "PATCH"):
            headers = [*headers, (b"Content-Length", b"0")]
        try:
            async with shared.slots:
                status, response_headers, content = await client.request(
                    request.method, target.encode("ascii"), headers, body
                )
        except httpcore.ConnectError as err:
            api_root = shared.config.api_root
            tls = "certificate" in str(err).lower() or "ssl" in str(err).lower()
            raise transport_error(
                request, api_root, describe_exception(err), maybe_processed=False, tls=tls
            ) from None
        except httpcore.ConnectTimeout as err:
            raise transport_error(
                request, shared.config.api_root, describe_exception(err), maybe_processed=False
            ) from None
        except (
            httpcore.TimeoutException,
            httpcore.NetworkError,
            httpcore.ProtocolError,
            httpcore.ProxyError,
            httpcore.UnsupportedProtocol,
        ) as err:
            raise transport_error(
                request, shared.config.api_root, describe_exception(err), maybe_processed=True
            ) from None
        kind = request.response
        if status < 400 and kind == "bytes":
            return content
        content_type = header_value(response_headers, b"content-type")
        text = content.decode(charset_of(content_type), errors="replace")
        if status >= 400:
            error = error_for_status(request, status, text, content_type)
            error.retry_after = parse_retry_after(header_value(response_headers, b"retry-after") or None)
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


def _make_client(config: DSSConnectionConfig) -> _Client:
    return _Client(config)


async def _amask(secret: str) -> None:
    try:
        from dss_provider.compat import amask_secret

        await amask_secret(secret)
    except Exception:  # masking is best effort outside a triggerer
        log.debug("Could not register the API key with the secrets masker")


def open_clients() -> list[tuple[str, _Shared]]:
    """The shared clients still open, across event loops, as (connection id, entry): for tests."""
    return [(conn_id, entry) for loops in list(_SHARED.values()) for conn_id, entry in loops.items()]
