"""Plaintext gRPC channels that still carry the credentials' bearer token, for emulators and in-cluster proxies.

Used by ``vertex`` (API_INSECURE toward API_ENDPOINT) and ``logs`` (LOG_SINK=cloud-logging toward
LOGGING_API_ENDPOINT). grpc and google-auth's transport are imported only when a channel is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import grpc
    from google.auth.credentials import Credentials


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


def plaintext_channel(endpoint: str, credentials: Credentials) -> grpc.Channel:
    """A channel to ``host:port`` without TLS whose unary calls carry ``authorization: Bearer …``."""
    import grpc
    from google.auth.transport import requests as auth_requests

    request = auth_requests.Request()

    class _BearerToken(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
        def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, message: Any) -> Any:
            headers: dict[str, str] = {}
            credentials.before_request(request, "POST", f"http://{endpoint}{details.method}", headers)  # type: ignore[no-untyped-call]
            with_token = _CallDetails(
                method=details.method,
                timeout=details.timeout,
                metadata=[*(details.metadata or []), *((k.lower(), v) for k, v in headers.items())],
                credentials=details.credentials,
                wait_for_ready=getattr(details, "wait_for_ready", None),
                compression=getattr(details, "compression", None),
            )
            return continuation(with_token, message)

    return grpc.intercept_channel(grpc.insecure_channel(endpoint), _BearerToken())
