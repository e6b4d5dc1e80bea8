"""Scheduled-time placeholders: ``{{name}}`` or ``{{scheduled_time:STRFTIME}}`` — strict, nothing else.

Called by ``spec`` on DISPLAY_NAME, ARGS, PIPELINE_PARAMETERS string values and the spec file's container args.
Every ``{{`` must open a known placeholder; anything else is a ConfigError naming the field (no escape syntax: a
literal ``{{`` in a value that passes through here is almost always a mistake in a scheduled job).

Placeholders: ``scheduled_time`` (RFC 3339 UTC, e.g. 2026-01-31T02:00:00Z), ``scheduled_date`` (2026-01-31),
``scheduled_epoch`` (seconds), ``run_key``, ``schedule_name``, and ``scheduled_time:%Y%m%d`` (any strftime format).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vertex_launcher.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>[a-z_]+)\s*(?::(?P<format>[^{}]*?))?\s*\}\}")
NAMES = ("scheduled_time", "scheduled_date", "scheduled_epoch", "run_key", "schedule_name")


@dataclass(frozen=True)
class Context:
    """The values placeholders expand to."""

    scheduled_time: datetime
    run_key: str
    schedule_name: str

    def value(self, name: str, fmt: str | None, *, field: str) -> str:
        """One placeholder's text; ConfigError for an unknown name or a format on the wrong name."""
        if fmt is not None and name != "scheduled_time":
            msg = f"{field}: placeholder {{{{{name}:{fmt}}}}} takes no format (only scheduled_time does)"
            raise ConfigError(msg)
        if name == "scheduled_time":
            if fmt is not None:
                return self.scheduled_time.strftime(fmt)
            return self.scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        if name == "scheduled_date":
            return self.scheduled_time.strftime("%Y-%m-%d")
        if name == "scheduled_epoch":
            return str(int(self.scheduled_time.timestamp()))
        if name == "run_key":
            return self.run_key
        if name == "schedule_name":
            return self.schedule_name
        msg = f"{field}: unknown placeholder {{{{{name}}}}} (known: {', '.join(NAMES)})"
        raise ConfigError(msg)


def render(text: str, context: Context, *, field: str) -> str:
    """Expand every placeholder in ``text``; a stray ``{{`` is an error naming ``field``."""
    out: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        out.append(text[pos : match.start()])
        out.append(context.value(match["name"], match["format"], field=field))
        pos = match.end()
    rest = text[pos:]
    if "{{" in rest or any("{{" in part for part in out[::2]):
        msg = f"{field}: malformed placeholder in {text!r} (use {{{{name}}}} with one of: {', '.join(NAMES)})"
        raise ConfigError(msg)
    out.append(rest)
    return "".join(out)


def render_tree(value: Any, context: Context, *, field: str) -> Any:
    """Expand placeholders in every string inside a JSON-like value (lists, objects)."""
    if isinstance(value, str):
        return render(value, context, field=field)
    if isinstance(value, list):
        return [render_tree(item, context, field=f"{field}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {key: render_tree(item, context, field=f"{field}.{key}") for key, item in value.items()}
    return value
