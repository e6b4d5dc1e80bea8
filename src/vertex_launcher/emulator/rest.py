"""The REST/JSON transport on Vertex's real paths, the testIamPermissions calls of `doctor`, and the control API.

Routes (JSON through ``google.protobuf.json_format``; errors as Google JSON error bodies)::

    POST /v1/projects/P/locations/L/customJobs                 CreateCustomJob
    GET  /v1/projects/P/locations/L/customJobs?filter=&pageSize=&pageToken=   ListCustomJobs (pipelineJobs: &orderBy=)
    GET  /v1/projects/P/locations/L/customJobs/ID              GetCustomJob
    POST /v1/projects/P/locations/L/customJobs/ID:cancel       CancelCustomJob
    (the same for pipelineJobs; create takes ?pipelineJobId=)
    POST /v1/projects/P:testIamPermissions (also /v3/)         {"permissions": [...]} → the subset held
    POST /v1/projects/-/serviceAccounts/EMAIL:testIamPermissions   the same, on one service account (IAM)
    POST /v2/entries:list                                      Cloud Logging ListLogEntries (``logging_api``)
    /_emulator/...                                             ``control.route``

A stdlib ThreadingHTTPServer; started by ``emulator.main``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from google.protobuf import json_format
from google.protobuf.message import Message

from vertex_launcher.emulator import control, logging_api
from vertex_launcher.emulator.config import ConfigError
from vertex_launcher.emulator.errors import ApiError, invalid
from vertex_launcher.emulator.resources import BY_COLLECTION, CUSTOM
from vertex_launcher.emulator.service import METHODS, Api

_COLLECTION = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+)/(customJobs|pipelineJobs)$")
_CANCEL = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/(customJobs|pipelineJobs)/[^/:]+):cancel$")
_JOB = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/(customJobs|pipelineJobs)/[^/:]+)$")
_TEST_IAM = re.compile(r"^/v[13]/(projects/[^/:]+):testIamPermissions$")
_TEST_SA_IAM = re.compile(r"^/v1/(projects/[^/:]+/serviceAccounts/[^/:]+):testIamPermissions$")
Reply = tuple[int, dict[str, Any]]


def _parse(text: str, message: Message) -> Message:
    try:
        return json_format.Parse(text or "{}", message)
    except json_format.ParseError as exc:
        msg = f"Invalid JSON payload received. {exc}"
        raise invalid(msg) from exc


class Route:
    """One parsed request: verb, path, query, body and bearer token."""

    def __init__(self, verb: str, target: str, body: str, token: str | None) -> None:
        parts = urlsplit(target)
        self.verb = verb
        self.path = unquote(parts.path)
        self.query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.body = body
        self.token = token

    def api_call(self, api: Api) -> Reply:
        """Answer a Vertex or Resource Manager route (ApiError for errors)."""
        if match := _TEST_IAM.match(self.path) or _TEST_SA_IAM.match(self.path):
            if self.verb != "POST":
                raise ApiError("NOT_FOUND", f"No route for {self.verb} {self.path}.")
            body = json.loads(self.body or "{}")
            held = api.test_iam_permissions(
                match.group(1), list(body.get("permissions", [])), transport="rest", token=self.token
            )
            return 200, ({"permissions": held} if held else {})
        if self.path == logging_api.REST_PATH and self.verb == "POST":
            return 200, logging_api.rest_list(api, self.body, self.token)
        method, request = self._vertex_request()
        response = api.handle(method, request, transport="rest", token=self.token)
        return 200, json_format.MessageToDict(response)

    def _vertex_request(self) -> tuple[str, Message]:
        if (match := _COLLECTION.match(self.path)) and self.verb in ("POST", "GET"):
            parent, kind = match.group(1), BY_COLLECTION[match.group(2)]
            if self.verb == "POST":
                name = "CreateCustomJob" if kind is CUSTOM else "CreatePipelineJob"
                request: Any = METHODS[name].request.pb()(parent=parent)
                field = "custom_job" if kind is CUSTOM else "pipeline_job"
                _parse(self.body, getattr(request, field))
                if kind is not CUSTOM:
                    request.pipeline_job_id = self.query.get("pipelineJobId", "")
                return name, request
            name = "ListCustomJobs" if kind is CUSTOM else "ListPipelineJobs"
            request = METHODS[name].request.pb()(parent=parent, filter=self.query.get("filter", ""))
            request.page_token = self.query.get("pageToken", "")
            if kind is not CUSTOM:
                request.order_by = self.query.get("orderBy", "")
            try:
                request.page_size = int(self.query.get("pageSize", "0"))
            except ValueError as exc:
                msg = f"Invalid value for pageSize: {self.query.get('pageSize')!r}."
                raise invalid(msg) from exc
            return name, request
        if (match := _CANCEL.match(self.path)) and self.verb == "POST":
            kind = BY_COLLECTION[match.group(2)]
            name = "CancelCustomJob" if kind is CUSTOM else "CancelPipelineJob"
            return name, METHODS[name].request.pb()(name=match.group(1))
        if (match := _JOB.match(self.path)) and self.verb == "GET":
            kind = BY_COLLECTION[match.group(2)]
            name = "GetCustomJob" if kind is CUSTOM else "GetPipelineJob"
            return name, METHODS[name].request.pb()(name=match.group(1))
        raise ApiError("NOT_FOUND", f"No route for {self.verb} {self.path}.")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RestServer

    def _serve(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.lower().startswith("bearer ") else None
        route = Route(verb, self.path, body, token or None)
        try:
            if route.path.startswith(control.PREFIX):
                status, payload = control.route(self.server.api, route.verb, route.path, route.body)
            else:
                status, payload = route.api_call(self.server.api)
        except ApiError as exc:
            status, payload = exc.http_status, exc.json_body()
        except (ConfigError, ValueError) as exc:
            error = invalid(str(exc))
            status, payload = error.http_status, error.json_body()
        except Exception as exc:  # a bug must still answer like a server, not drop the connection
            traceback.print_exc(file=sys.stderr)
            error = ApiError("INTERNAL", f"Internal error in the emulator: {exc!r}")
            status, payload = error.http_status, error.json_body()
        self._send(status, payload)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class RestServer(ThreadingHTTPServer):
    """The HTTP server, holding the Api its handlers use."""

    daemon_threads = True

    def __init__(self, api: Api, host: str, port: int, *, verbose: bool = False) -> None:
        self.api = api
        self.verbose = verbose
        super().__init__((host, port), _Handler)


def start(api: Api, host: str, port: int, *, verbose: bool = False) -> tuple[RestServer, int]:
    """Start serving on a daemon thread; the server and its port."""
    server = RestServer(api, host, port, verbose=verbose)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="emulator-rest", daemon=True)
    thread.start()
    return server, server.server_address[1]
