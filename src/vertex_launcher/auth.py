"""Who the run acts as: Application Default Credentials, optional impersonation, the first token, the principal.

Called once per run by the composition root (``__main__``), for ``run`` and ``doctor`` alike, before any API
client exists. Owns
- discovery through ``google.auth.default()`` with the cloud-platform scope (GKE metadata server, a Workload
  Identity Federation ``external_account`` file, a gcloud user login, a key file), plus ``IMPERSONATE_SERVICE_ACCOUNT``;
- the startup race: discovery and the first token fetch are retried for ``CREDENTIALS_WAIT_SECONDS`` through the
  interruptible ``Clock.sleep`` (a new pod's GKE metadata server may need a few seconds);
- principal discovery (service-account email, federated subject, user account) for the "credentials ready" record;
- one-line ``AuthError`` messages that name the source tried and what to check.

Secret hygiene: no token, refresh token, key or STS response is ever logged, returned in a message, chained as a
cause, or written to disk; google-auth's DEBUG request logs (which carry raw headers) are trimmed to method and URL.
Imports google.auth only — never google.cloud.aiplatform* (import-linter contract).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials

from vertex_launcher.clock import Clock
from vertex_launcher.errors import AuthError, ConfigError
from vertex_launcher.redaction import redact_text as redact
from vertex_launcher.settings import Settings

log = structlog.get_logger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: Where IMPERSONATE_SERVICE_ACCOUNT tokens come from unless ``iam_credentials_endpoint`` says otherwise.
IAM_CREDENTIALS_ENDPOINT = "https://iamcredentials.googleapis.com"
#: The pod's own Kubernetes service-account token (read only to name the KSA of a direct GKE principal binding).
K8S_TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

_RETRY_FIRST_SECONDS = 0.5
_RETRY_MAX_SECONDS = 5.0
_REASON_MAX_CHARS = 400
_QUERY = re.compile(r"""(https?://[^\s?'"]+)\?[^\s'"]*""")  # URLs lose their query strings in messages

#: Credential classes google.auth.default() returns → the ``source`` we report (matched along the MRO).
_SOURCES = {
    "google.auth.compute_engine.credentials.Credentials": "gce_metadata",
    "google.auth.external_account.Credentials": "external_account",
    "google.auth.external_account_authorized_user.Credentials": "external_account_authorized_user",
    "google.oauth2.credentials.Credentials": "authorized_user",
    "google.oauth2.service_account.Credentials": "service_account_key",
    "google.auth.impersonated_credentials.Credentials": "impersonated_service_account",
}
#: The ``type`` field of a credential file → source (to name the source when loading the file itself fails).
_FILE_TYPES = {
    "external_account": "external_account",
    "external_account_authorized_user": "external_account_authorized_user",
    "authorized_user": "authorized_user",
    "service_account": "service_account_key",
    "impersonated_service_account": "impersonated_service_account",
}


@dataclass(frozen=True)
class Identity:
    """The credentials of this run and who they belong to. Never holds a token in a printable field."""

    credentials: Credentials = field(repr=False)
    #: ``gce_metadata`` | ``external_account`` | ``authorized_user`` | ``service_account_key`` |
    #: ``impersonated_service_account`` | ``external_account_authorized_user`` | ``anonymous``;
    #: `` + impersonation`` is appended when IMPERSONATE_SERVICE_ACCOUNT is set.
    source: str
    #: Service-account email, federated ``principal://…`` subject, or user account; None when unknown.
    principal: str | None
    #: The ADC project (used when PROJECT / GOOGLE_CLOUD_PROJECT are unset).
    project: str | None
    #: With impersonation (ours or the credential file's): the principal that impersonates ``principal``.
    source_principal: str | None = None


def resolve_identity(
    settings: Settings,
    *,
    clock: Clock,
    iam_credentials_endpoint: str | None = None,
    k8s_token_file: Path = K8S_TOKEN_FILE,
) -> Identity:
    """ADC (+ impersonation), then a first token fetch, retried for ``settings.credentials_wait_seconds``.

    ``CREDENTIALS=anonymous`` → AnonymousCredentials, no network. Otherwise ``google.auth.default`` with the
    cloud-platform scope, wrapped in impersonated credentials when ``IMPERSONATE_SERVICE_ACCOUNT`` is set (their
    ``generateAccessToken`` calls go to ``iam_credentials_endpoint``, default ``IAM_CREDENTIALS_ENDPOINT``).
    Failures that can heal (no metadata server yet, a metadata/STS hiccup) are retried through ``clock.sleep``;
    the rest fail at once. Raises ``AuthError`` (exit 3) with one line naming the source and what to check; when a
    stop interrupts the wait, the message says so and ``clock.stop_reason`` is set.
    """
    if settings.credentials == "anonymous":
        if settings.impersonate_service_account:
            msg = "VERTEX_LAUNCHER_IMPERSONATE_SERVICE_ACCOUNT needs real credentials, not CREDENTIALS=anonymous"
            raise ConfigError(msg)
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return Identity(credentials=anonymous, source="anonymous", principal=None, project=None)
    _trim_http_debug_logs()
    deadline = clock.monotonic() + settings.credentials_wait_seconds
    delay = _RETRY_FIRST_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            return _resolve_once(settings, iam_credentials_endpoint or IAM_CREDENTIALS_ENDPOINT, k8s_token_file)
        except _AttemptError as failure:
            remaining = deadline - clock.monotonic()
            if not failure.retryable or remaining <= 0:
                waited = f" (after {attempt} attempts in {settings.credentials_wait_seconds:g}s)" if attempt > 1 else ""
                # ``from None``: google-auth's exception may carry a response body; it never reaches a traceback.
                raise AuthError(failure.explain(waited)) from None
            pause = min(delay, remaining)
            log.warning(
                "credentials not ready; retrying",
                credential_source=failure.source,
                attempt=attempt,
                retry_in_seconds=round(pause, 3),
                reason=failure.reason,
            )
            if clock.sleep(pause):
                msg = f"stopped by {clock.stop_reason} while waiting for credentials: {failure.explain('')}"
                raise AuthError(msg) from None
            delay = min(delay * 2, _RETRY_MAX_SECONDS)


# --- one attempt --------------------------------------------------------------------------------------------


class _AttemptError(Exception):
    """One failed attempt: which source, at which step, why (redacted), and whether waiting can help."""

    def __init__(self, *, source: str, step: str, reason: str, retryable: bool, hint: str) -> None:
        super().__init__(reason)
        self.source = source
        self.step = step
        self.reason = reason
        self.retryable = retryable
        self.hint = hint

    def explain(self, waited: str) -> str:
        """The one-line AuthError message."""
        return f"{self.step} failed{waited}: {self.reason}; {self.hint}"


def _resolve_once(settings: Settings, iam_endpoint: str, k8s_token_file: Path) -> Identity:
    import google.auth
    from google.auth.transport.requests import Request

    request = Request()
    try:
        base, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE], request=request)
    except auth_exceptions.GoogleAuthError as exc:
        raise _discovery_failure(exc) from None
    source = _source_of(base)
    _first_token(base, request, source=source, step=_token_step(source, base))
    principal, via = _principal_of(base, source, request, k8s_token_file)
    if project is None and source == "gce_metadata":
        project = _metadata_value(request, "project/project-id")
    target = settings.impersonate_service_account
    if not target:
        return Identity(credentials=base, source=source, principal=principal, project=project, source_principal=via)
    from google.auth import impersonated_credentials

    impersonated = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=base,
        target_principal=target,
        target_scopes=[CLOUD_PLATFORM_SCOPE],
        iam_endpoint_override=f"{iam_endpoint.rstrip('/')}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
    )
    _first_token(
        impersonated,
        request,
        source=f"{source} + impersonation",
        step=f"impersonating {target} as {principal or source}",
    )
    return Identity(
        credentials=impersonated,
        source=f"{source} + impersonation",
        principal=target,
        project=project,
        source_principal=principal,
    )


def _first_token(credentials: Credentials, request: Any, *, source: str, step: str) -> None:
    try:
        credentials.refresh(request)  # type: ignore[no-untyped-call]
    except auth_exceptions.GoogleAuthError as exc:
        # A new pod's GKE metadata server can answer errors for a few seconds: keep trying it until the deadline.
        retryable = _transient(exc) or source == "gce_metadata"
        raise _AttemptError(
            source=source, step=step, reason=_reason(exc), retryable=retryable, hint=_hint(source)
        ) from None


def _discovery_failure(exc: auth_exceptions.GoogleAuthError) -> _AttemptError:
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    adc_file = explicit or _gcloud_adc_file()
    if explicit or Path(adc_file).is_file():
        source = _file_source(adc_file)
        via = "GOOGLE_APPLICATION_CREDENTIALS" if explicit else "the gcloud ADC file"
        what = f"{source} credentials" if source else "credentials"
        # A token/project lookup made while loading the file can hit a network hiccup; a bad file cannot heal.
        return _AttemptError(
            source=source or "credential file",
            step=f"loading {what} from {adc_file} ({via})",
            reason=_reason(exc),
            retryable=_transient(exc),
            hint=_hint(source or "file"),
        )
    probe = os.environ.get("GCE_METADATA_IP") or "169.254.169.254"
    return _AttemptError(
        source="gce_metadata",
        step="finding Application Default Credentials",
        reason=(
            "GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud ADC file, and no metadata server "
            f"answered at {probe}"
        ),
        retryable=True,
        hint=_hint("none"),
    )


def _transient(exc: BaseException) -> bool:
    """A network failure or a response google-auth marks retryable (5xx, temporarily_unavailable)."""
    return (
        isinstance(exc, auth_exceptions.TransportError)
        or isinstance(exc.__cause__, auth_exceptions.TransportError)
        or bool(getattr(exc, "retryable", False))
    )


def _token_step(source: str, credentials: Credentials) -> str:
    if source == "gce_metadata":
        host = os.environ.get("GCE_METADATA_HOST") or os.environ.get("GCE_METADATA_ROOT") or "metadata.google.internal"
        return f"fetching an access token from the metadata server at {host}"
    if source == "external_account":
        info = _info(credentials)
        return f"exchanging the token from {_token_file(info) or 'the credential source'} at {info.get('token_url')}"
    return f"fetching an access token with the {source} credentials"


# --- principal discovery (best effort: never fails the run, never a token) ------------------------------------


def _principal_of(
    credentials: Credentials, source: str, request: Any, k8s_token_file: Path
) -> tuple[str | None, str | None]:
    """(principal, source_principal) — the second is set when the credentials impersonate someone."""
    email = getattr(credentials, "service_account_email", None)
    if source == "gce_metadata":
        if not email or email == "default":
            email = _metadata_value(request, "instance/service-accounts/default/email")
        if email and email.endswith(".svc.id.goog"):  # GKE without a Google SA: a direct principal binding
            return _gke_principal(email, request, k8s_token_file), None
        return email, None
    if source == "external_account":
        subject = _federated_subject(credentials)
        return (email, subject) if email else (subject, None)
    if source == "authorized_user":
        account = getattr(credentials, "account", None) or None
        return account or _jwt_claims(getattr(credentials, "id_token", None)).get("email"), None
    if isinstance(email, str) and email:
        return email, None
    return None, None


def _gke_principal(pool: str, request: Any, k8s_token_file: Path) -> str:
    """``principal://…/PROJECT.svc.id.goog/subject/ns/NS/sa/KSA`` when the KSA and project number are known."""
    subject = _jwt_claims(_read(k8s_token_file)).get("sub", "")
    parts = subject.split(":") if isinstance(subject, str) else []
    number = _metadata_value(request, "project/numeric-project-id")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] and number:
        return (
            f"principal://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}"
            f"/subject/ns/{parts[2]}/sa/{parts[3]}"
        )
    return pool


def _federated_subject(credentials: Credentials) -> str | None:
    """The pool principal of the subject token (``google.subject=assertion.sub``), else the audience."""
    info = _info(credentials)
    audience = str(info.get("audience") or "")
    token = _read(Path(path)) if (path := _token_file(info)) else None
    source = info.get("credential_source")
    fmt = (source.get("format") or {}) if isinstance(source, dict) else {}
    if token and fmt.get("type") == "json":
        try:
            token = json.loads(token).get(fmt.get("subject_token_field_name", ""))
        except (ValueError, AttributeError):
            token = None
    subject = _jwt_claims(token).get("sub")
    pool = re.match(r"^//iam\.googleapis\.com/(.+)/providers/[^/]+$", audience)
    if subject and pool:
        return f"principal://iam.googleapis.com/{pool[1]}/subject/{subject}"
    return audience or str(info.get("subject_token_type") or "") or None


def _metadata_value(request: Any, path: str) -> str | None:
    from google.auth.compute_engine import _metadata

    try:
        value = _metadata.get(request, path, retry_count=1)  # type: ignore[no-untyped-call]
    except auth_exceptions.GoogleAuthError:
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- helpers --------------------------------------------------------------------------------------------------


def _source_of(credentials: Credentials) -> str:
    for cls in type(credentials).__mro__:
        source = _SOURCES.get(f"{cls.__module__}.{cls.__qualname__}")
        if source:
            return source
    return type(credentials).__name__


def _info(credentials: Credentials) -> dict[str, Any]:
    try:
        info = getattr(credentials, "info", None)
    except Exception:  # a property of a vendor class; the principal is best effort
        return {}
    return info if isinstance(info, dict) else {}


def _token_file(info: dict[str, Any]) -> str | None:
    source = info.get("credential_source")
    return str(source["file"]) if isinstance(source, dict) and source.get("file") else None


def _gcloud_adc_file() -> str:
    config = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    return str(Path(config) / "application_default_credentials.json")


def _file_source(path: str) -> str | None:
    try:
        kind = json.loads(Path(path).read_text()).get("type")
    except (OSError, ValueError, AttributeError):
        return None
    return _FILE_TYPES.get(str(kind))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _jwt_claims(token: object) -> dict[str, Any]:
    """The payload of a JWT, decoded WITHOUT verifying it (only to name the principal); {} if not a JWT."""
    if not isinstance(token, str) or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _reason(exc: BaseException) -> str:
    """A short, single-line, redacted description of a google-auth exception (nested causes flattened)."""
    parts: list[str] = []

    def collect(error: BaseException) -> None:
        for arg in error.args:
            if isinstance(arg, BaseException):
                collect(arg)
            elif isinstance(arg, bytes | str):
                parts.append(arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg)

    collect(exc)
    text = " ".join(" ".join(parts).split()) or type(exc).__name__
    text = redact(_QUERY.sub(r"\1", text))
    return text if len(text) <= _REASON_MAX_CHARS else text[: _REASON_MAX_CHARS - 1] + "…"


_GKE_CHECKS = (
    "on GKE check that the pod runs as the Kubernetes service account annotated with "
    "iam.gke.io/gcp-service-account=GSA_EMAIL (or bound directly as a principal://… member), that GSA_EMAIL grants "
    "roles/iam.workloadIdentityUser to serviceAccount:PROJECT_ID.svc.id.goog[NAMESPACE/KSA], and that the node pool "
    "runs with --workload-metadata=GKE_METADATA"
)


_HINTS = {
    "none": (
        f"{_GKE_CHECKS}, and raise VERTEX_LAUNCHER_CREDENTIALS_WAIT_SECONDS if its metadata server starts slowly; "
        "off GKE set GOOGLE_APPLICATION_CREDENTIALS to a Workload Identity Federation credential configuration"
    ),
    "gce_metadata": _GKE_CHECKS,
    "impersonation": (
        "grant the principal above roles/iam.serviceAccountTokenCreator on the impersonated service account, "
        "check that the account exists, and enable iamcredentials.googleapis.com"
    ),
    "external_account": (
        "check that the token file is mounted and holds a current projected service-account token whose audience "
        "is the provider's (https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/"
        "POOL/providers/PROVIDER), that the provider's issuer and JWKS are this cluster's, that the pool principal "
        "is granted the role (or roles/iam.workloadIdentityUser on the credential file's service account), and "
        "set GOOGLE_CLOUD_PROJECT so that no Resource Manager lookup is needed"
    ),
    "authorized_user": "run `gcloud auth application-default login` again and mount the new file (local runs only)",
    "service_account_key": (
        "check the key file (the key may be malformed, disabled or deleted); prefer Workload Identity, which needs "
        "no key files"
    ),
    "file": "check the credential file named by GOOGLE_APPLICATION_CREDENTIALS (or the gcloud ADC file)",
}


def _hint(source: str) -> str:
    """What to check, by source (docs/identity.md has the commands)."""
    key = "impersonation" if source.endswith("+ impersonation") else source
    return f"{_HINTS.get(key, _HINTS['file'])} (see docs/identity.md)"


class _TrimHttpLog(logging.Filter):
    """google-auth's DEBUG request/response records carry raw headers (Authorization) and bodies: keep method+URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "httpRequest", None)
        if request is not None:
            wanted = request if isinstance(request, dict) else {}
            record.httpRequest = {"method": wanted.get("method"), "url": redact(str(wanted.get("url")))}
        if hasattr(record, "httpResponse"):
            record.httpResponse = "<omitted>"
        return True


_HTTP_LOGGERS = (
    "google.auth.transport.requests",
    "google.auth.transport.urllib3",
    "google.auth.transport._http_client",
    "google.auth.transport._aiohttp_requests",
)


def _trim_http_debug_logs() -> None:
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _TrimHttpLog) for f in logger.filters):
            logger.addFilter(_TrimHttpLog())
