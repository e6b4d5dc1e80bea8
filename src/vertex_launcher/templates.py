"""Pipeline templates: read a compiled KFP pipeline from a local file or ``gs://``, or pass an Artifact Registry URI.

Called by the composition root, which hands ``load_template`` to ``spec.build_request``. Formats: the KFP v2 IR
(YAML or JSON, possibly followed by a platform-spec YAML document) and the older JSON job format whose top level
holds ``pipelineSpec`` (and ``runtimeConfig``). ``gs://`` objects are read with google-cloud-storage, which honours
``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from vertex_launcher.errors import AuthError, ConfigError
from vertex_launcher.spec import Template

FIELD = "VERTEX_LAUNCHER_PIPELINE_TEMPLATE"
_REGISTRY = re.compile(r"^https://[a-z0-9-]+-kfp\.pkg\.dev/")


def parse_template(text: str, *, origin: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipeline spec and the template's own runtime config from compiled-template text."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        msg = f"{FIELD}: {origin} is not valid YAML/JSON ({str(exc).splitlines()[0]})"
        raise ConfigError(msg) from None
    first = documents[0] if documents else None
    if isinstance(first, dict) and isinstance(first.get("pipelineSpec"), dict):
        return first["pipelineSpec"], dict(first.get("runtimeConfig") or {})
    if isinstance(first, dict) and "pipelineInfo" in first and "root" in first:
        return first, {}
    msg = f"{FIELD}: {origin} is not a compiled KFP pipeline (no pipelineInfo/root, nor pipelineSpec)"
    raise ConfigError(msg)


def make_loader(read_gcs: Callable[[str], str] | None = None) -> Callable[[str], Template]:
    """A template loader; ``read_gcs`` fetches ``gs://`` text (None, for ``render``: the URI is returned unread)."""

    def load(location: str) -> Template:
        if _REGISTRY.match(location):
            return location
        if location.startswith("gs://"):
            if read_gcs is None:
                return location
            return parse_template(read_gcs(location), origin=location)
        if "://" in location:
            msg = f"{FIELD}: {location!r} must be a local path, gs://…, or https://<region>-kfp.pkg.dev/…"
            raise ConfigError(msg)
        try:
            text = Path(location).read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"{FIELD}: cannot read {location!r} ({exc.strerror})"
            raise ConfigError(msg) from None
        return parse_template(text, origin=repr(location))

    return load


def gcs_reader(credentials: Any, project: str | None) -> Callable[[str], str]:
    """Read a ``gs://bucket/object`` as text with google-cloud-storage (imported only when used)."""

    def read(uri: str) -> str:
        from google.api_core import exceptions
        from google.cloud.storage import Client  # only gs:// templates pay for this import

        bucket, _, name = uri.removeprefix("gs://").partition("/")
        client = Client(project=project, credentials=credentials)
        try:
            return str(client.bucket(bucket).blob(name).download_as_text())
        except exceptions.NotFound:
            msg = f"{FIELD}: {uri} does not exist"
            raise ConfigError(msg) from None
        except exceptions.Forbidden as exc:
            msg = f"{FIELD}: no permission to read {uri} (storage.objects.get): {exc.message}"
            raise AuthError(msg) from None

    return read
