"""Pipeline templates: read a compiled KFP pipeline from a local file, ``gs://`` or Artifact Registry.

Called by the composition root, which hands ``load_template`` to ``spec.build_request``. Formats: the KFP v2 IR
(YAML or JSON, possibly followed by a platform-spec YAML document) and the older JSON job format whose top level
holds ``pipelineSpec`` (and ``runtimeConfig``). ``gs://`` objects are read with google-cloud-storage, which honours
``STORAGE_EMULATOR_HOST``. An Artifact Registry template (``https://<region>-kfp.pkg.dev/…``) is downloaded with
the run's credentials as a bearer token, as the Vertex SDK does (``yaml_utils._load_yaml_from_https_uri``), so its
parameters are checked and its root found; its URI is still sent as the job's ``templateUri``. ``render`` reads
neither remote kind (no network, no credentials).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from vertex_launcher.errors import AuthError, ConfigError, TransientApiError
from vertex_launcher.redaction import redact_text
from vertex_launcher.spec import Template

FIELD = "VERTEX_LAUNCHER_PIPELINE_TEMPLATE"
#: The Vertex SDK's pattern of an Artifact Registry (KFP format) URL.
REGISTRY = re.compile(r"^https://[\w-]+-kfp\.pkg\.dev/", re.IGNORECASE)
DOWNLOAD_PERMISSION = "artifactregistry.repositories.downloadArtifacts"
HTTP_TIMEOUT_SECONDS = 30.0

Reader = Callable[[str], str]


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


def make_loader(read_gcs: Reader | None = None, read_registry: Reader | None = None) -> Callable[[str], Template]:
    """A template loader; a remote kind whose reader is None (``render``) comes back unread, as its location only."""

    def load(location: str) -> Template:
        registry = bool(REGISTRY.match(location))
        reader = read_registry if registry else read_gcs if location.startswith("gs://") else None
        if registry or location.startswith("gs://"):
            template_uri = location if registry else None
            if reader is None:
                return Template(location, template_uri=template_uri)
            spec, runtime = parse_template(reader(location), origin=location)
            return Template(location, spec, runtime, template_uri=template_uri)
        if "://" in location:
            msg = f"{FIELD}: {location!r} must be a local path, gs://…, or https://<region>-kfp.pkg.dev/…"
            raise ConfigError(msg)
        try:
            text = Path(location).read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"{FIELD}: cannot read {location!r} ({exc.strerror})"
            raise ConfigError(msg) from None
        spec, runtime = parse_template(text, origin=repr(location))
        return Template(location, spec, runtime)

    return load


def gcs_reader(credentials: Any, project: str | None) -> Reader:
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


def registry_reader(credentials: Any, endpoint: str | None = None) -> Reader:
    """Download an Artifact Registry template with ``credentials`` (a bearer token, refreshed as needed).

    ``endpoint`` (ARTIFACT_REGISTRY_ENDPOINT) stands in for ``https://<region>-kfp.pkg.dev`` in the download URL.
    """

    def read(uri: str) -> str:
        import requests
        from google.auth import exceptions as auth_exceptions
        from google.auth.transport.requests import AuthorizedSession

        url = REGISTRY.sub(f"{endpoint}/", uri) if endpoint else uri
        try:
            # A token that is due is refreshed before the request; a 401 is reported, not retried (as the SDK does).
            session = AuthorizedSession(credentials, refresh_status_codes=())  # type: ignore[no-untyped-call]
            response = session.get(url, timeout=HTTP_TIMEOUT_SECONDS)
        except auth_exceptions.RefreshError as exc:
            msg = f"{FIELD}: could not refresh the access token to download {uri}: {redact_text(str(exc))}"
            raise AuthError(msg) from None
        except (requests.RequestException, auth_exceptions.TransportError) as exc:
            msg = f"{FIELD}: could not download {uri} ({type(exc).__name__}: {redact_text(str(exc))})"
            raise TransientApiError(msg, code="UNAVAILABLE") from None
        status = f"HTTP {response.status_code} {response.reason}".strip()
        if response.status_code in (401, 403):
            msg = (
                f"{FIELD}: no permission to download {uri} ({status}): the run's principal needs "
                f"{DOWNLOAD_PERMISSION} on the repository (roles/artifactregistry.reader)"
            )
            raise AuthError(msg)
        if response.status_code == 404:
            msg = f"{FIELD}: {uri} does not exist ({status}): check the repository, package and tag or version"
            raise ConfigError(msg)
        if response.status_code == 429 or response.status_code >= 500:
            msg = f"{FIELD}: could not download {uri} ({status})"
            raise TransientApiError(msg, code="UNAVAILABLE")
        if response.status_code != 200:
            msg = f"{FIELD}: downloading {uri} answered {status}"
            raise ConfigError(msg)
        return response.content.decode("utf-8", errors="replace")

    return read
