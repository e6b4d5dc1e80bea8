"""The control API under ``/_emulator/`` on the REST port, for tests and demos (not part of Vertex).

    GET  /_emulator/health              {"ok": true}
    GET  /_emulator/jobs                {"jobs": [{name, kind, display_name, state, labels, create_time}]}
    GET  /_emulator/requests            {"requests": [request-log entries]}
    GET  /_emulator/config              the runtime configuration
    POST /_emulator/config              {"run_seconds": 3, "time_scale": 50, "rules": [...], ...} → configuration
    POST /_emulator/faults              a rule, a list of rules, or {"faults": [...]} (appended) → active rules
    POST /_emulator/principals          a list, or {"principals": [...], "require_auth": bool} (replaced)
    POST /_emulator/reset               no jobs, empty request log, startup configuration
    POST /_emulator/jobs/{id}:force     {"state": "JOB_STATE_FAILED"} → the job
    GET  /_emulator/logs                the simulated job logs' settings (``joblogs.LogSettings``)
    POST /_emulator/logs                {"lines_per_minute": 600, "read_requests_per_minute": 60, ...} → settings

Called by ``rest``; the ``tests/fixtures/emulator.py`` helper wraps it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from vertex_launcher.emulator.errors import ApiError
from vertex_launcher.emulator.service import Api

PREFIX = "/_emulator/"
_FORCE = re.compile(r"^/_emulator/jobs/(.+):force$")


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(body, dict) and key in body:
        body = body[key]
    elif isinstance(body, dict) and set(body) <= {"require_auth"}:
        body = []
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        msg = f"expected a JSON object, a list of objects, or {{{key!r}: [...]}}"
        raise ValueError(msg)
    return body


def _principals(api: Api, body: Any) -> dict[str, Any]:
    require = body.get("require_auth") if isinstance(body, dict) else None
    return {"principals": api.set_principals(_items(body, "principals"), require_auth=require)}


def _configure_logs(api: Api, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        msg = "expected a JSON object of logs settings"
        raise ValueError(msg)  # noqa: TRY004 - the REST layer answers ValueError as INVALID_ARGUMENT
    with api.lock:
        api.logs.settings.update(body)
        return api.logs.settings.to_json()


def _reset(api: Api, body: Any) -> dict[str, Any]:
    api.reset()
    return {}


_GET: dict[str, Callable[[Api], dict[str, Any]]] = {
    "health": lambda api: {"ok": True},
    "jobs": lambda api: {"jobs": api.jobs()},
    "requests": lambda api: {"requests": api.request_log()},
    "config": Api.runtime,
    "logs": lambda api: {"logs": api.logs.settings.to_json()},
}
_POST: dict[str, Callable[[Api, Any], dict[str, Any]]] = {
    "config": Api.configure,
    "faults": lambda api, body: {"faults": api.add_faults(_items(body, "faults"))},
    "principals": _principals,
    "reset": _reset,
    "logs": lambda api, body: {"logs": _configure_logs(api, body)},
}


def route(api: Api, verb: str, path: str, body_text: str) -> tuple[int, dict[str, Any]]:
    """Answer one control request: (HTTP status, JSON body)."""
    body: Any = json.loads(body_text) if body_text.strip() else {}
    action = path[len(PREFIX) :]
    if verb == "GET" and action in _GET:
        return 200, _GET[action](api)
    if verb == "POST" and action in _POST:
        return 200, _POST[action](api, body)
    if verb == "POST" and (match := _FORCE.match(path)):
        return 200, api.force(match.group(1), str(body.get("state", "")))
    raise ApiError("NOT_FOUND", f"No control route for {verb} {path}.")
