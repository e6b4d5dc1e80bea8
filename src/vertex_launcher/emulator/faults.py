"""Scripted fault injection: rules that make the Nth..(N+count-1)th call of a method fail, stall, or both.

A rule (JSON, from ``--config`` or ``POST /_emulator/faults``)::

    {"method": "GetCustomJob", "nth": 3, "count": 2, "code": "UNAVAILABLE", "message": "...",
     "retry_delay_seconds": 5, "apply_first": false, "delay_seconds": 0, "quota_metric": null,
     "transport": null}

``method`` is a served gRPC method name or ``*``; the qualified spellings ``JobService.CreateCustomJob`` and
``[/]google.cloud.aiplatform.v1.JobService/CreateCustomJob`` are accepted and stored short, and a name the
emulator does not serve is refused (a misspelt rule would never fire, so the run it should break would pass).
``count`` 0 means every call from the Nth on; ``code`` null only delays; ``delay_seconds`` stalls before
answering; ``apply_first`` performs the operation first, then stalls and answers the error (an ambiguous create:
the job exists, the client sees a failure). RESOURCE_EXHAUSTED without a ``message`` answers the rate limit of
the quota the call counts against (job submission for creates, CRUD otherwise), with a RetryInfo only when
``retry_delay_seconds`` is set; with ``quota_metric`` it answers an allocation quota instead. ``transport``
limits the rule to ``grpc`` or ``rest``. Every matching rule counts the call; the first one that fires decides.
``service.Api`` calls ``FaultSet.fire`` once per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from vertex_launcher.emulator.errors import (
    HTTP_STATUS,
    ApiError,
    RateQuota,
    allocation_quota_exceeded,
    rate_limited,
    retry_info,
)

_DEFAULT_MESSAGES = {
    "UNAVAILABLE": "The service is currently unavailable.",
    "DEADLINE_EXCEEDED": "Deadline Exceeded",
    "INTERNAL": "Internal error encountered.",
    "ABORTED": "The operation was aborted.",
}


@dataclass
class FaultRule:
    """One fault rule and how many matching calls it has seen."""

    method: str = "*"
    nth: int = 1
    count: int = 1
    code: str | None = "UNAVAILABLE"
    message: str = ""
    retry_delay_seconds: float | None = None
    apply_first: bool = False
    delay_seconds: float = 0.0
    quota_metric: str | None = None
    transport: str | None = None
    seen: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any], served: Mapping[str, str]) -> FaultRule:
        """Build and check a rule; ValueError names the bad key or value.

        ``served`` maps each method name the emulator serves to its gRPC service's full name.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"unknown fault rule key(s) {unknown}; known: {sorted(known - {'seen'})}"
            raise ValueError(msg)
        for key, value in data.items():
            _check_type(key, value)
        rule = cls(**data)
        rule.method = canonical_method(rule.method, served)
        if rule.code is not None and (rule.code not in HTTP_STATUS or rule.code == "OK"):
            msg = f"fault rule code {rule.code!r} is not a gRPC status name"
            raise ValueError(msg)
        if rule.nth < 1 or rule.count < 0 or rule.delay_seconds < 0 or (rule.retry_delay_seconds or 0) < 0:
            msg = f"fault rule needs nth >= 1, count >= 0, delay_seconds >= 0, retry_delay_seconds >= 0: {data}"
            raise ValueError(msg)
        if rule.transport not in (None, "grpc", "rest"):
            msg = f"fault rule transport must be grpc, rest or null, got {rule.transport!r}"
            raise ValueError(msg)
        if rule.quota_metric and rule.code != "RESOURCE_EXHAUSTED":
            msg = f"fault rule quota_metric needs code RESOURCE_EXHAUSTED, got {rule.code!r}"
            raise ValueError(msg)
        return rule

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (with the ``seen`` counter)."""
        return asdict(self)

    def observe(self, method: str, transport: str) -> bool:
        """Count a call if it matches; True if this call is one the rule fires on."""
        if self.method not in ("*", method) or self.transport not in (None, transport):
            return False
        self.seen += 1
        return self.seen >= self.nth and (self.count == 0 or self.seen < self.nth + self.count)

    def error(self, *, quota: RateQuota, consumer: str, region: str) -> ApiError | None:
        """The error this rule answers, or None for a delay-only rule; ``quota``: the one the call counts against."""
        if self.code is None:
            return None
        if self.code == "RESOURCE_EXHAUSTED" and self.quota_metric:
            return allocation_quota_exceeded(self.quota_metric)
        if self.code == "RESOURCE_EXHAUSTED" and not self.message:
            # An injected rate limit has no window of its own: it reports Vertex's default limit of that quota.
            limit, retry = quota.default_limit, self.retry_delay_seconds
            return rate_limited(quota, consumer=consumer, region=region, limit=limit, retry_seconds=retry)
        message = self.message or _DEFAULT_MESSAGES.get(self.code, f"Injected fault: {self.code}.")
        details = [retry_info(self.retry_delay_seconds)] if self.retry_delay_seconds is not None else []
        return ApiError(self.code, message, details)


class FaultSet:
    """The active rules, in the order they were added; ``served``: method name → its gRPC service."""

    def __init__(self, served: Mapping[str, str]) -> None:
        self.served = served
        self.rules: list[FaultRule] = []

    def add(self, items: list[dict[str, Any]]) -> None:
        """Append rules (all or none: a bad rule adds nothing)."""
        self.rules += [FaultRule.from_json(item, self.served) for item in items]

    def fire(self, method: str, transport: str) -> FaultRule | None:
        """Count this call on every matching rule; the first rule that fires on it, if any."""
        fired = [rule for rule in self.rules if rule.observe(method, transport)]
        return fired[0] if fired else None

    def to_json(self) -> list[dict[str, Any]]:
        """JSON-able form."""
        return [rule.to_json() for rule in self.rules]

    def load_json(self, items: list[dict[str, Any]]) -> None:
        """Replace the rules with a ``to_json`` dump."""
        self.rules = [FaultRule.from_json(item, self.served) for item in items]


#: The JSON type(s) each rule key takes; a boolean only where ``bool`` is listed (Python counts it as an ``int``).
_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,),
    "nth": (int,),
    "count": (int,),
    "code": (str, type(None)),
    "message": (str,),
    "retry_delay_seconds": (int, float, type(None)),
    "apply_first": (bool,),
    "delay_seconds": (int, float),
    "quota_metric": (str, type(None)),
    "transport": (str, type(None)),
    "seen": (int,),
}


def _check_type(key: str, value: Any) -> None:
    expected = _TYPES[key]
    if isinstance(value, bool) != (bool in expected) or not isinstance(value, expected):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in expected)
        msg = f"fault rule {key} must be {names}, got {value!r}"
        raise ValueError(msg)


def canonical_method(spelling: str, served: Mapping[str, str]) -> str:
    """The short name of the served method a rule names, or ``*``; ValueError for a method not served.

    ``CreateCustomJob``, ``JobService.CreateCustomJob``, ``google.cloud.aiplatform.v1.JobService/CreateCustomJob``
    and the gRPC path ``/google.cloud.aiplatform.v1.JobService/CreateCustomJob`` all name the same method.
    """
    if spelling == "*":
        return spelling
    qualified = spelling.strip().lstrip("/")
    separator = "/" if "/" in qualified else "."
    service, _, name = qualified.rpartition(separator)
    full = served.get(name)
    if full is None or (service and full != service and not full.endswith(f".{service}")):
        listed = ", ".join(sorted(served))
        msg = (
            f"fault rule method {spelling!r} is not a method the emulator serves; known: {listed} "
            f"(also as JobService.CreateCustomJob or google.cloud.aiplatform.v1.JobService/CreateCustomJob), or *"
        )
        raise ValueError(msg)
    return name
