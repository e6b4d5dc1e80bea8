"""The emulator process: options → Api → gRPC and REST servers → ready line on stdout → wait for a signal.

The first stdout line is exactly one JSON object ``{"grpc": "HOST:PORT", "rest": "http://HOST:PORT", "pid": N}``;
nothing else is written to stdout. SIGTERM/SIGINT stop both servers, save the state file and exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from vertex_launcher.emulator import grpc_server, rest
from vertex_launcher.emulator.config import ConfigError, parse_args
from vertex_launcher.emulator.service import Api


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; 0 on a clean stop, 2 on bad options or config."""
    try:
        settings = parse_args(sys.argv[1:] if argv is None else argv)
        api = Api(settings)
    except (ConfigError, ValueError, KeyError) as exc:
        print(f"vertex-launcher emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    try:
        grpc, grpc_port = grpc_server.start(api, settings.host, settings.port)
    except (OSError, RuntimeError) as exc:
        print(f"vertex-launcher emulator: gRPC port {settings.port}: {exc}", file=sys.stderr)
        return 2
    try:
        http, rest_port = rest.start(api, settings.host, settings.rest_port, verbose=settings.verbose)
    except OSError as exc:
        grpc.stop(None)
        print(f"vertex-launcher emulator: REST port {settings.rest_port}: {exc}", file=sys.stderr)
        return 2
    host = _url_host(settings.host)
    ready = {"grpc": f"{host}:{grpc_port}", "rest": f"http://{host}:{rest_port}", "pid": os.getpid()}
    print(json.dumps(ready), flush=True)
    # Poll: a signal may be delivered to one of gRPC's threads, which would not wake a plain wait().
    while not stop.wait(0.1):
        pass
    http.shutdown()
    http.server_close()
    grpc.stop(grace=1).wait()
    with api.lock:
        api.save()
    return 0
