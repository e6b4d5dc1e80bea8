"""The launcher's error taxonomy: the exception type says what happened and whether a retry can help.

Raised by settings/spec (config), auth (identity), and the Vertex adapter (API errors translated from
google.api_core); caught once, in ``watch`` and the composition root, and mapped to an exit code by
``result.ExitCode``. Nothing here imports a vendor SDK.
"""

from __future__ import annotations

from vertex_launcher.result import ExitCode


class LauncherError(Exception):
    """Base class. ``code`` is the API status name when the error came from an API call."""

    exit_code: ExitCode = ExitCode.JOB_FAILED

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ConfigError(LauncherError):
    """Bad configuration or a spec Vertex rejects as invalid; nothing was (or will be) submitted."""

    exit_code = ExitCode.CONFIG


class AuthError(LauncherError):
    """No usable credentials, or the principal lacks a permission."""

    exit_code = ExitCode.AUTH


class QuotaExceededError(LauncherError):
    """An allocation quota (e.g. GPUs) refused the job: retrying soon will not help.

    Told apart from a rate limit (a ``TransientApiError``) by the quota the error names, in ``vertex.translate``.
    """

    exit_code = ExitCode.JOB_FAILED


class ApiError(LauncherError):
    """A non-retryable API error that is neither config nor auth."""

    exit_code = ExitCode.JOB_FAILED


class NotFoundError(ApiError):
    """The named resource does not exist."""


class AlreadyExistsError(ApiError):
    """A create collided with an existing resource (the deterministic PipelineJob id): reattach."""


class TransientApiError(LauncherError):
    """Retry may help.

    ``retry_after`` is the server's RetryInfo delay when it sent one; without it (Vertex documents none on its
    quota errors) the caller paces retries with its own backoff.

    ``ambiguous`` marks a failure of a create that may have reached the server: look before retrying.
    """

    exit_code = ExitCode.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.ambiguous = ambiguous
