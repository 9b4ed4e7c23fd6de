"""Fault injection: rules (pure logic) and the ASGI middleware that applies them.

A rule (dict form, as accepted by ``FaultSet.add``, ``--faults FILE`` and ``POST /__emulator__/faults``)::

    {"route": "run",          # route name (see app.ROUTES) or "*"; admin routes are never faulted
     "method": "POST",        # optional HTTP method filter
     "kind": "status",        # status | latency | drop | drop_after | html | truncated | non_json
     "status": 503,           # for kind status (default 503) and html (default 502)
     "retry_after": 2,        # optional Retry-After header (seconds)
     "latency": 1.5,          # seconds, for kind latency (the request then proceeds normally)
     "rate": 1.0,             # probability a matching request is hit (seedable RNG)
     "count": 3,              # only the next N hits (None = unlimited)
     "duration": 60}          # the rule expires N seconds after it was added (None = never)

Kinds: ``status`` answers a DSS-shaped JSON error; ``latency`` delays then proceeds (several
latency rules add up); ``drop`` closes the connection before the route runs; ``drop_after`` runs
the route (e.g. the fire IS accepted) then closes the connection without answering;
``html`` answers a proxy-like HTML error page; ``truncated`` runs the route and answers 200
with the first half of its body; ``non_json`` answers 200 with a non-JSON body (the route does
not run). The first non-latency rule that hits wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = ("status", "latency", "drop", "drop_after", "html", "truncated", "non_json")
FAULT_STATUSES = (429, 500, 502, 503, 504)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultRuleError(ValueError):
    """A fault rule is malformed."""


_ids = itertools.count(1)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_numbers(raw: dict[str, Any]) -> dict[str, Any]:
    """The numeric fields of a rule's dict form, checked (``FaultRuleError`` naming the bad one)."""
    status = raw.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise FaultRuleError("'status' must be an HTTP error status (e.g. 429, 500, 502, 503, 504)")
    numbers: dict[str, Any] = {"status": status}
    for name in ("retry_after", "latency", "duration"):
        value = raw.get(name)
        if value is not None:
            if not _is_number(value) or value < 0:
                raise FaultRuleError(f"'{name}' must be a number of seconds >= 0")
            numbers[name] = float(value)
    rate = raw.get("rate", 1.0)
    if not _is_number(rate) or not 0.0 <= rate <= 1.0:
        raise FaultRuleError("'rate' must be between 0.0 and 1.0")
    numbers["rate"] = float(rate)
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise FaultRuleError("'count' must be a positive integer")
    numbers["count"] = count
    return numbers


@dataclass
class FaultRule:
    """One fault injection rule (see the module docstring)."""

    kind: str
    route: str = "*"
    method: str | None = None
    status: int | None = None
    retry_after: float | None = None
    latency: float = 0.0
    rate: float = 1.0
    count: int | None = None
    duration: float | None = None
    id: str = field(default_factory=lambda: f"fault-{next(_ids)}")
    created_at: float = 0.0
    hits: int = 0

    @classmethod
    def from_dict(cls, raw: Any) -> FaultRule:
        """A rule from its dict form (``ValueError`` naming the bad field)."""
        if not isinstance(raw, dict):
            raise FaultRuleError("a fault rule must be an object")
        unknown = set(raw) - {
            "kind",
            "route",
            "method",
            "status",
            "retry_after",
            "latency",
            "rate",
            "count",
            "duration",
            "id",
        }
        if unknown:
            raise FaultRuleError(f"unknown fault rule fields: {', '.join(sorted(unknown))}")
        kind = raw.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultRuleError(f"'kind' must be one of {', '.join(FAULT_KINDS)}")
        rule = cls(kind=kind)
        route = raw.get("route", "*")
        if not isinstance(route, str) or not route:
            raise FaultRuleError("'route' must be a route name or '*'")
        rule.route = route
        method = raw.get("method")
        if method is not None and not isinstance(method, str):
            raise FaultRuleError("'method' must be a string")
        rule.method = method.upper() if method else None
        for name, value in _checked_numbers(raw).items():
            setattr(rule, name, value)
        if kind == "latency" and rule.latency <= 0:
            raise FaultRuleError("a latency rule needs 'latency' > 0")
        if isinstance(raw.get("id"), str) and raw["id"]:
            rule.id = raw["id"]
        return rule

    def to_dict(self) -> dict[str, Any]:
        """The rule as a JSON-able dict (its ``from_dict`` form)."""
        return asdict(self)


class FaultSet:
    """Thread-safe set of active fault rules, with hit counters by kind."""

    def __init__(
        self,
        rules: list[Any] | None = None,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._clock = clock
        self.injected: dict[str, int] = {}
        for rule in rules or []:
            self.add(rule)

    def add(self, rule: FaultRule | dict[str, Any] | None = None, **kwargs: Any) -> FaultRule:
        """Add a rule (a FaultRule, a dict, or keyword arguments); returns it."""
        if rule is None:
            rule = FaultRule.from_dict(kwargs)
        elif isinstance(rule, dict):
            rule = FaultRule.from_dict({**rule, **kwargs})
        rule.created_at = self._clock()
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        """Remove the rule ``rule_id``; whether there was one."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        """Remove every rule (counters are kept; see ``reset_counters``)."""
        with self._lock:
            self._rules.clear()

    def reset_counters(self) -> None:
        """Forget the counts of injected faults."""
        with self._lock:
            self.injected.clear()

    def seed(self, value: int | None) -> None:
        """Seed the RNG of the rules with a ``rate`` below 1."""
        with self._lock:
            self._rng.seed(value)

    def rules(self) -> list[FaultRule]:
        """The rules in force (expired ones dropped)."""
        with self._lock:
            self._expire()
            return list(self._rules)

    def _expire(self) -> None:
        now = self._clock()
        self._rules = [
            r
            for r in self._rules
            if (r.duration is None or now - r.created_at < r.duration) and (r.count is None or r.count > 0)
        ]

    def match(self, route: str, method: str) -> tuple[float, FaultRule | None]:
        """Total injected latency and the first hitting non-latency rule, for one request."""
        latency, hit = 0.0, None
        with self._lock:
            self._expire()
            for r in self._rules:
                if r.route not in ("*", route) or (r.method is not None and r.method != method):
                    continue
                if r.rate < 1.0 and self._rng.random() >= r.rate:
                    continue
                r.hits += 1
                if r.count is not None:
                    r.count -= 1
                self.injected[r.kind] = self.injected.get(r.kind, 0) + 1
                if r.kind == "latency":
                    latency += r.latency
                    continue
                hit = r
                break
            self._expire()
        return latency, hit


# ----------------------------------------------------------------------------------------------
# ASGI
# ----------------------------------------------------------------------------------------------
_HTML = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


async def _send_simple(
    send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _prebuffer(receive: Receive, cap: int = 2 * 1024 * 1024) -> Receive:
    """Read the request body now (up to ``cap`` bytes) and return a ``receive`` that replays it."""
    buffered: list[Message] = []
    size = 0
    while size <= cap:
        message = await receive()
        buffered.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
        size += len(message.get("body", b""))

    async def replay() -> Message:
        if buffered:
            return buffered.pop(0)
        return await receive()

    return replay


async def drop_connection(send: Send) -> None:
    """Close the client connection without sending a response.

    uvicorn does not expose the transport in the scope; its ``send`` is a bound method of the
    request cycle, which holds it. We abort the transport (a TCP reset) and mark the cycle
    disconnected so uvicorn does not try to answer 500. Fallback: start a response, then fail,
    which makes uvicorn close the connection mid-response.
    """
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        with contextlib.suppress(AttributeError):
            cycle.disconnected = True
        await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100000")]})
    raise ConnectionAbortedError("emulator fault: connection dropped")


class FaultMiddleware:
    """Apply the rules of a :class:`FaultSet` to requests whose route ``resolve(scope)`` names."""

    def __init__(
        self,
        app: ASGIApp,
        faults: FaultSet,
        resolve: Callable[[Scope], str | None],
        error_body: Callable[[int], dict[str, Any]],
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.headers = headers or []
        self.app = app
        self.faults = faults
        self.resolve = resolve
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: inject the first matching fault, else pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.resolve(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        latency, rule = self.faults.match(route, scope["method"])
        if latency:
            # Like a slow server: the request (body included) is received first, then handled late,
            # even if the client gave up meanwhile.
            receive = await _prebuffer(receive)
            await asyncio.sleep(latency)
        if rule is None:
            await self.app(scope, receive, send)
            return
        extra = (
            [(b"retry-after", str(int(rule.retry_after)).encode())] if rule.retry_after is not None else []
        )
        if rule.kind == "status":
            status = rule.status or 503
            body = json.dumps(self.error_body(status)).encode()
            await _send_simple(send, status, body, "application/json", extra + self.headers)
        elif rule.kind == "html":
            status = rule.status or 502
            await _send_simple(send, status, _HTML.format(status=status).encode(), "text/html", extra)
        elif rule.kind == "non_json":
            await _send_simple(send, 200, b"<html><body>Please log in</body></html>", "application/json")
        elif rule.kind == "drop":
            await drop_connection(send)
        else:  # drop_after, truncated: run the route, capture its answer
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)
            if rule.kind == "drop_after":
                await drop_connection(send)
                return
            body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
            await _send_simple(send, 200, body[: max(1, len(body) // 2)], "application/json")


def load_rules(source: Any) -> list[FaultRule]:
    """Rules from a list (of dicts/FaultRule) or a YAML/JSON file (a list, or ``{"faults": [...]}``)."""
    if source is None:
        return []
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        from pathlib import Path

        path = Path(source)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
        source = data.get("faults", []) if isinstance(data, dict) else data
    if not isinstance(source, list):
        raise FaultRuleError("faults must be a list of rules")
    return [r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in source]
