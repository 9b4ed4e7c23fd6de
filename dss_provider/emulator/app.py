"""The emulator's HTTP layer: a lean ASGI app (Starlette building blocks, no FastAPI).

* Public API under ``/public/api/`` and ``/dip/publicapi/`` (identical), with or without a
  trailing slash; see :data:`dss_provider.emulator.routes.ROUTES`.
* Auth: ``Basic base64("KEY:")``, ``Basic base64(":KEY")`` or ``Bearer KEY``.
* Errors are DSS-shaped JSON bodies (``errorType``, ``message``, ``detailedMessage``, ``code``,
  ``fixability``, ``stackTraceStr``); unexpected exceptions become a DSS-shaped 500.
* Admin routes under ``/__emulator__/`` need ``X-DSS-Emulator-Admin-Key`` (the API key does not
  work there): ``GET health`` (no key needed), ``GET stats``, ``POST reset`` (optional body
  ``{"seed": {...}}``), ``GET/POST/DELETE faults``, ``DELETE faults/{id}``, ``POST speed``
  (``{"speed": F}``), ``GET/POST time-triggers`` (``{"enabled": true}``: temporal triggers fire by
  themselves), ``POST ui-run`` (``{"project_key", "scenario_id", "user", "params"}``: start a run as
  that user would from the DSS UI; answers the trigger fire).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response

from dss_provider.emulator.engine import Engine
from dss_provider.emulator.faults import (
    FaultMiddleware,
    FaultRule,
    FaultRuleError,
    FaultSet,
    Receive,
    Scope,
    Send,
)
from dss_provider.emulator.routes import ROUTES, Ctx, Handler, Reply
from dss_provider.emulator.state import (
    BadRequest,
    EmulatorError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    validate_id,
)
from dss_provider.emulator.views import render_fire

logger = logging.getLogger("dss_provider.emulator")

DSS_VERSION = "15.2.0-emulator"
DSS_API_VERSION = "1"
MAX_BODY = 1024 * 1024
_DRAIN_LIMIT = 64 * 1024 * 1024
PREFIXES = ("/public/api", "/dip/publicapi")
ADMIN_PREFIX = "/__emulator__"
ADMIN_HEADER = "x-dss-emulator-admin-key"
_PARAM_WHAT = {
    "K": "project key",
    "S": "scenario id",
    "R": "run id",
    "T": "trigger id",
    "D": "discussion id",
    "J": "future id",
}
_BASE_HEADERS = {"DSS-Version": DSS_VERSION, "DSS-API-Version": DSS_API_VERSION}


class MethodNotAllowed(EmulatorError):
    """HTTP 405: the route exists, not with this method."""

    status = 405
    error_type = "com.dataiku.dip.exceptions.MethodNotAllowedException"
    code = "ERR_METHOD_NOT_ALLOWED"


def error_body(status: int) -> dict[str, Any]:
    """Body of an injected HTTP error."""
    err = EmulatorError(f"HTTP {status}", f"Emulated server error: HTTP {status}", status=status)
    err.error_type = (
        "com.dataiku.dip.exceptions.ServiceUnavailableException"
        if status in (502, 503, 504)
        else "com.dataiku.dip.exceptions.CodedException"
    )
    return err.body()


class Router:
    """Match ``(method, segments)`` against route patterns; literal segments beat parameters."""

    def __init__(self, routes: list[tuple[str, str, str, Handler]]) -> None:
        self._by_len: dict[int, list[tuple[int, tuple[str, ...], dict[str, tuple[str, Handler]]]]] = {}
        grouped: dict[tuple[str, ...], dict[str, tuple[str, Handler]]] = {}
        order: list[tuple[str, ...]] = []
        for method, pattern, name, handler in routes:
            segs = tuple(pattern.split("/"))
            if segs not in grouped:
                grouped[segs] = {}
                order.append(segs)
            grouped[segs][method] = (name, handler)
        for i, segs in enumerate(order):
            literals = sum(1 for s in segs if not s.startswith("{"))
            self._by_len.setdefault(len(segs), []).append((-literals * 1000 + i, segs, grouped[segs]))
        for entries in self._by_len.values():
            entries.sort(key=lambda e: e[0])

    def resolve(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]]:
        """The route of ``method path``: its name, handler and path parameters (404/405 if none)."""
        path = "/" + path.lstrip("/")
        rest = _api_path(path)
        if rest is None:
            raise NotFound(f"No such endpoint: {path[:100]}", "The DSS public API lives under /public/api/")
        segments = rest.split("/") if rest else []
        allowed = False
        for _, pattern, methods in self._by_len.get(len(segments), []):
            params = _match(pattern, segments)
            if params is None:
                continue
            if method not in methods and not (method == "HEAD" and "GET" in methods):
                allowed = True
                continue
            for name, value in params.items():
                validate_id(value, _PARAM_WHAT.get(name, "id"))
            route_name, handler = methods.get(method) or methods["GET"]
            return route_name, handler, params
        if allowed:
            raise MethodNotAllowed(
                f"Method {method} not allowed", f"{method} is not supported on {path[:100]}"
            )
        for seg in segments:
            if seg in ("", ".", "..") or ".." in seg:
                raise BadRequest("Illegal path", "Empty, '.' or '..' path segments are not allowed")
        raise NotFound(f"No such endpoint: {path[:100]}")


def _api_path(path: str) -> str | None:
    """The path below the public API's prefix (``None`` if it is not under one)."""
    for prefix in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :].strip("/")
    return None


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    """The path parameters if ``segments`` match the route ``pattern`` (``{name}`` matches any)."""
    params: dict[str, str] = {}
    for pat, seg in zip(pattern, segments, strict=True):
        if pat.startswith("{"):
            params[pat[1:-1]] = seg
        elif pat != seg:
            return None
    return params


def _tokens(headers: Headers) -> list[str]:
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return []
        user, _, password = decoded.partition(":")
        return [t for t in (user, password) if t]
    if scheme == "bearer" and value.strip():
        return [value.strip()]
    return []


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    declared = Headers(scope=scope).get("content-length")
    too_big = declared is not None and declared.isdigit() and int(declared) > MAX_BODY
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if size > MAX_BODY:
            too_big = True
            if size > _DRAIN_LIMIT:
                break
        elif not too_big:
            chunks.append(chunk)
    if too_big:
        raise PayloadTooLarge("Request body too large", f"Request bodies are limited to {MAX_BODY} bytes")
    return b"".join(chunks)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    body: bytes,
    media_type: str,
    extra: dict[str, str] | None = None,
) -> None:
    headers = dict(_BASE_HEADERS)
    if extra:
        headers.update(extra)
    await Response(body, status, headers, media_type)(scope, receive, send)


async def _error(scope: Scope, receive: Receive, send: Send, exc: EmulatorError) -> None:
    await _answer(scope, receive, send, exc.status, _json_bytes(exc.body()), "application/json")


class EmulatorApp:
    """The ASGI application: routing, request counters, faults, auth, handlers, admin routes."""

    def __init__(
        self,
        engine: Engine,
        faults: FaultSet,
        admin_key: str,
        on_reset: Callable[[Any], None],
        stats: Callable[[], dict[str, Any]],
    ) -> None:
        self.engine = engine
        self.faults = faults
        self.admin_key = admin_key
        self.on_reset = on_reset
        self.stats = stats
        self.router = Router(ROUTES)
        self.requests: dict[str, int] = {}
        #: Requests per project key, then per route name (the event watchers' cost per project).
        self.project_requests: dict[str, dict[str, int]] = {}
        self._faulted = FaultMiddleware(
            self._core,
            faults,
            lambda s: s.get("dss.route"),
            error_body,
            [(k.lower().encode(), v.encode()) for k, v in _BASE_HEADERS.items()],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: lifespan events, then one HTTP request."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX + "/") or path == ADMIN_PREFIX:
            await self._admin(scope, receive, send)
            return
        try:
            name, handler, params = self.router.resolve(scope["method"], path)
            scope["dss.route"] = name
            scope["dss.handler"] = (handler, params)
            self.requests[name] = self.requests.get(name, 0) + 1
            if "K" in params:
                per_project = self.project_requests.setdefault(params["K"], {})
                per_project[name] = per_project.get(name, 0) + 1
        except EmulatorError as exc:
            scope["dss.error"] = exc
        await self._faulted(scope, receive, send)

    async def _core(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(scope, receive)
            engine = self.engine
            with engine.lock:
                key = engine.catalog.authenticate(_tokens(Headers(scope=scope)))
                if "dss.error" in scope:
                    raise scope["dss.error"]
                handler, params = scope["dss.handler"]
                ctx = Ctx(engine, key, params, QueryParams(scope["query_string"]), body, engine.now())
                result = handler(ctx)
                if isinstance(result, Reply):
                    status, payload, media = result.status, result.body, result.media_type
                else:
                    status, payload, media = 200, _json_bytes(result), "application/json"
        except EmulatorError as exc:
            await _error(scope, receive, send, exc)
            return
        except Exception:
            logger.exception("Unexpected error in DSS emulator route %s", scope.get("dss.route"))
            await _error(scope, receive, send, EmulatorError("Internal error", "Unexpected emulator error"))
            return
        await _answer(scope, receive, send, status, payload, media)

    # -- admin -------------------------------------------------------------------------------------
    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            sub = scope["path"][len(ADMIN_PREFIX) :].strip("/")
            method = scope["method"]
            body = await _read_body(scope, receive)
            if sub == "health" and method == "GET":
                result: Any = {"status": "ok", "version": DSS_VERSION}
            else:
                presented = Headers(scope=scope).get(ADMIN_HEADER)
                if not presented:
                    raise Unauthorized("Missing admin key", f"Admin routes need the {ADMIN_HEADER} header")
                if not hmac.compare_digest(presented.encode(), self.admin_key.encode()):
                    raise Forbidden(
                        "Invalid admin key", "The admin key is wrong (the API key is not accepted)"
                    )
                result = self._admin_route(method, sub, body)
        except EmulatorError as exc:
            await _error(scope, receive, send, exc)
            return
        except Exception:
            logger.exception("Unexpected error in DSS emulator admin route")
            await _error(scope, receive, send, EmulatorError("Internal error", "Unexpected emulator error"))
            return
        await _answer(scope, receive, send, 200, _json_bytes(result), "application/json")

    def _admin_route(self, method: str, sub: str, raw: bytes) -> Any:
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise BadRequest("Malformed JSON body") from None
        if sub.startswith("faults/") and method == "DELETE":
            if not self.faults.remove(sub[len("faults/") :]):
                raise NotFound("No such fault rule")
            return {"msg": "fault removed"}
        route = _ADMIN_ROUTES.get((method, sub))
        if route is None:
            raise NotFound(f"No such admin endpoint: {method} {ADMIN_PREFIX}/{sub[:60]}")
        return route(self, body)

    def _admin_reset(self, body: Any) -> Any:
        self.on_reset(body.get("seed") if isinstance(body, dict) else None)
        return {"msg": "reset"}

    def _admin_speed(self, body: Any) -> Any:
        speed = body.get("speed") if isinstance(body, dict) else None
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed <= 0:
            raise BadRequest("'speed' must be a number > 0")
        with self.engine.lock:
            self.engine.speed = float(speed)
        return {"speed": self.engine.speed}

    def _admin_time_triggers(self, body: Any) -> Any:
        return {"enabled": self.engine.time_triggers}

    def _admin_set_time_triggers(self, body: Any) -> Any:
        enabled = body.get("enabled") if isinstance(body, dict) else None
        if not isinstance(enabled, bool):
            raise BadRequest("'enabled' must be true or false")
        self.engine.time_triggers = enabled
        return {"enabled": self.engine.time_triggers}

    def _admin_ui_run(self, body: Any) -> Any:
        if not isinstance(body, dict):
            raise BadRequest("The body must be an object with project_key, scenario_id and user")
        project_key, scenario_id = body.get("project_key"), body.get("scenario_id")
        user, params = body.get("user", "ui_user"), body.get("params") or {}
        if not (isinstance(project_key, str) and isinstance(scenario_id, str) and isinstance(user, str)):
            raise BadRequest("project_key, scenario_id and user must be strings")
        if not isinstance(params, dict):
            raise BadRequest("'params' must be an object")
        with self.engine.lock:
            return render_fire(self.engine.fire_as_user(project_key, scenario_id, user, params))

    def _admin_faults(self, body: Any) -> Any:
        return [r.to_dict() for r in self.faults.rules()]

    def _admin_clear_faults(self, body: Any) -> Any:
        self.faults.clear()
        return {"msg": "faults cleared"}

    def _admin_add_faults(self, body: Any) -> Any:
        rules = body if isinstance(body, list) else [body]
        try:
            parsed = [FaultRule.from_dict(r) for r in rules]
        except FaultRuleError as exc:
            raise BadRequest("Invalid fault rule", str(exc)) from None
        return [self.faults.add(r).to_dict() for r in parsed]


#: ``(method, sub-path)`` -> the admin route's handler (``/__emulator__/<sub-path>``).
_ADMIN_ROUTES: dict[tuple[str, str], Callable[[EmulatorApp, Any], Any]] = {
    ("GET", "stats"): lambda app, body: app.stats(),
    ("POST", "reset"): EmulatorApp._admin_reset,
    ("POST", "speed"): EmulatorApp._admin_speed,
    ("GET", "time-triggers"): EmulatorApp._admin_time_triggers,
    ("POST", "time-triggers"): EmulatorApp._admin_set_time_triggers,
    ("POST", "ui-run"): EmulatorApp._admin_ui_run,
    ("GET", "faults"): EmulatorApp._admin_faults,
    ("DELETE", "faults"): EmulatorApp._admin_clear_faults,
    ("POST", "faults"): EmulatorApp._admin_add_faults,
}
