"""The gRPC transport: generic handlers for JobService and PipelineService that call ``service.Api.handle``.

Requests are deserialised with the proto-plus types google-cloud-aiplatform ships; errors become a
google.rpc.Status with details (``grpc-status-details-bin``), so ``google.api_core`` sees RetryInfo, ErrorInfo
and QuotaFailure exactly as from Vertex. Started by ``emulator.main``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.cloud.aiplatform_v1.types import custom_job, pipeline_job
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from grpc_status import rpc_status

from vertex_launcher.emulator import logging_api
from vertex_launcher.emulator.errors import ApiError
from vertex_launcher.emulator.resources import CUSTOM
from vertex_launcher.emulator.service import METHODS, Api, Method


def bearer_token(metadata: Any) -> str | None:
    """The token of an ``authorization: Bearer …`` metadata entry, if any."""
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
            return value[len("bearer ") :].strip() or None
    return None


def _response_serializer(method: Method) -> Callable[[Message], bytes]:
    if method.verb == "cancel":
        return empty_pb2.Empty.SerializeToString
    if method.verb == "list":
        wrapper = method.response
    else:
        wrapper = custom_job.CustomJob if method.kind is CUSTOM else pipeline_job.PipelineJob

    def serialize(message: Message) -> bytes:
        return bytes(wrapper.serialize(wrapper.wrap(message)))

    return serialize


def _behaviour(api: Api, method: Method) -> Callable[[Any, grpc.ServicerContext], Message]:
    def call(request: Any, context: grpc.ServicerContext) -> Message:
        token = bearer_token(context.invocation_metadata())
        try:
            return api.handle(method.name, type(request).pb(request), transport="grpc", token=token)
        except ApiError as exc:
            context.abort_with_status(rpc_status.to_status(exc.status_pb()))
            raise  # not reached: abort_with_status raises

    return call


def handlers(api: Api) -> list[grpc.GenericRpcHandler[Any, Any]]:
    """One generic handler per service."""
    by_service: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
    for method in METHODS.values():
        by_service.setdefault(method.service, {})[method.name] = grpc.unary_unary_rpc_method_handler(
            _behaviour(api, method),
            request_deserializer=method.request.deserialize,
            response_serializer=_response_serializer(method),
        )
    return [grpc.method_handlers_generic_handler(name, table) for name, table in by_service.items()]


def start(api: Api, host: str, port: int) -> tuple[grpc.Server, int]:
    """Start the gRPC server (plaintext) on host:port; the server and the port it got."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((*handlers(api), logging_api.handlers(api)))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        msg = f"cannot listen for gRPC on {host}:{port}"
        raise OSError(msg)
    server.start()
    return server, bound
