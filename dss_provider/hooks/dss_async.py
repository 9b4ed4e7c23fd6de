"""DSSAsyncHook: the same DSS requests over ``httpx.AsyncClient``, for triggers.

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

import tenacity

from dss_provider.api import procedures
from dss_provider.api.endpoints import ApiRequest
from dss_provider.api.errors import decode_json, error_for_status, parse_retry_after
from dss_provider.api.retry import backoff_delay, describe_exception, should_retry, transport_error
from dss_provider.exceptions import DSSConfigurationError, DSSError
from dss_provider.hooks.connection import (
    DEFAULT_CONN_ID,
    DSSConnectionConfig,
    config_from_airflow_connection,
    connection_load_error,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

#: Connections (and requests in flight) per shared client. Small on purpose: every request makes httpcore
#: scan the pool (a readability syscall per idle connection), so 20 keeps a poll cheap while still
#: serving hundreds of polls per second (benchmarks/scale.py: 1,000 waits went from 68 ms to 2.3 ms CPU
#: per poll, p99 end-to-event delay from 54 s to 5.0 s at a 5 s poll interval).
MAX_CONNECTIONS = 20


@dataclass
class _Shared:
    config: DSSConnectionConfig
    client: httpx.AsyncClient
    users: int = 0
    #: Requests in flight on this client, at most the pool size: waiting here is O(1), while httpcore's
    #: pool rescans every queued request on each hand-over (quadratic when thousands of triggers poll).
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONNECTIONS))


# Per event loop (a client is bound to the loop it was made on), then per connection id. Weak keys: a
# closed loop's entries go with it, and a new loop can never pick up an old loop's client.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = (
    weakref.WeakKeyDictionary()
)


def _shared_of_loop() -> dict[str, _Shared]:
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None:
        shared = _SHARED[loop] = {}
    return shared


def _retry_wait(retry_state: tenacity.RetryCallState) -> float:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    return backoff_delay(retry_state.attempt_number, error)


class DSSAsyncHook:
    """Async DSS access for triggers. Use ``async with DSSAsyncHook(conn_id) as hook:`` or call
    :meth:`release` when done."""

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
            config = await self._fetch_config()
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

    async def _fetch_config(self) -> DSSConnectionConfig:
        from airflow.sdk import BaseHook

        try:
            conn = await BaseHook.aget_connection(self.dss_conn_id)
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
        """Send one request with the shared retry policy; the decoded answer."""
        shared = await self.acquire()
        retries = self._retries if self._retries is not None else shared.config.retries
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(retries + 1),
            wait=_retry_wait,
            retry=tenacity.retry_if_exception(lambda e: should_retry(request, e)),
            reraise=True,
        )
        return await retrying(self._send_once, shared, request)

    async def _send_once(self, shared: _Shared, request: ApiRequest) -> Any:
        import httpx

        config = shared.config
        headers = {"Content-Type": "application/json"} if request.has_body else None
        try:
            async with shared.slots:
                response = await shared.client.request(
                    request.method,
                    config.api_root + request.path,
                    params=list(request.query) or None,
                    content=request.body_bytes(),
                    headers=headers,
                )
        except httpx.ConnectError as err:
            tls = "certificate" in str(err).lower() or "ssl" in str(err).lower()
            raise transport_error(
                request, config.api_root, describe_exception(err), maybe_processed=False, tls=tls
            ) from None
        except httpx.ConnectTimeout as err:
            raise transport_error(
                request, config.api_root, describe_exception(err), maybe_processed=False
            ) from None
        except httpx.HTTPError as err:
            raise transport_error(
                request, config.api_root, describe_exception(err), maybe_processed=True
            ) from None
        if response.status_code >= 400:
            error = error_for_status(
                request, response.status_code, response.text, response.headers.get("Content-Type", "")
            )
            error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise error
        if request.response == "json":
            return decode_json(request, response.status_code, response.text)
        return response.content if request.response == "bytes" else response.text

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


def _make_client(config: DSSConnectionConfig) -> httpx.AsyncClient:
    import httpx

    verify: Any = config.verify
    if isinstance(verify, str) and not config.client_cert:
        import ssl

        verify = ssl.create_default_context(cafile=verify)  # httpx deprecates verify=<path>
    if config.client_cert:
        import ssl

        context = ssl.create_default_context(cafile=config.verify if isinstance(config.verify, str) else None)
        if config.verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        cert = config.client_cert
        context.load_cert_chain(*(cert if isinstance(cert, tuple) else (cert,)))
        verify = context
    return httpx.AsyncClient(
        headers=config.headers(),
        verify=verify,
        timeout=httpx.Timeout(config.timeout),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
    )


async def _amask(secret: str) -> None:
    try:
        from airflow.sdk.log import amask_secret

        await amask_secret(secret)
    except Exception:  # masking is best effort outside a triggerer
        log.debug("Could not register the API key with the secrets masker")


def open_clients() -> list[tuple[str, _Shared]]:
    """The shared clients still open, across event loops, as (connection id, entry): for tests."""
    return [(conn_id, entry) for loops in list(_SHARED.values()) for conn_id, entry in loops.items()]
