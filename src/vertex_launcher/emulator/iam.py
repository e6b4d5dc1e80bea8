"""Optional IAM: bearer token → principal (email) → permissions, checked per method like Vertex does.

Principals (JSON, from ``--config`` or ``POST /_emulator/principals``)::

    [{"email": "runner@p.iam.gserviceaccount.com", "tokens": ["tok-1"],
      "permissions": ["aiplatform.customJobs.create", "iam.serviceAccounts.actAs:job-sa@p.iam.gserviceaccount.com"]}]

``iam.serviceAccounts.actAs`` alone allows acting as any service account; ``…actAs:EMAIL`` only as that one.
With no principals configured every caller may do everything (and ``require_auth`` only demands a token).
Used by ``service.Api`` and the REST ``testIamPermissions`` routes (a project, or one service account, where
``PERMISSION:EMAIL`` grants count like a role granted on that account).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vertex_launcher.emulator.errors import ApiError, error_info

ACT_AS = "iam.serviceAccounts.actAs"
_MISSING = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_INVALID = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass
class Principal:
    """One caller identity."""

    email: str
    tokens: list[str]
    permissions: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Principal:
        """Build from ``{"email", "token"|"tokens", "permissions"}``; ValueError on anything else."""
        unknown = sorted(set(data) - {"email", "token", "tokens", "permissions"})
        if unknown or "email" not in data:
            msg = f"a principal needs 'email' and takes 'token'/'tokens'/'permissions'; got keys {sorted(data)}"
            raise ValueError(msg)
        tokens = list(data.get("tokens", [])) + ([data["token"]] if "token" in data else [])
        return cls(email=str(data["email"]), tokens=tokens, permissions=frozenset(data.get("permissions", [])))

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"email": self.email, "tokens": self.tokens, "permissions": sorted(self.permissions)}

    def holds(self, permission: str) -> bool:
        """Whether the principal holds ``permission`` (``actAs:EMAIL`` is held through a bare ``actAs`` too)."""
        if permission in self.permissions:
            return True
        return permission.startswith(ACT_AS + ":") and ACT_AS in self.permissions


class Iam:
    """Authentication and authorization decisions."""

    def __init__(self, *, require_auth: bool = False) -> None:
        self.require_auth = require_auth
        self.principals: list[Principal] = []

    @property
    def enabled(self) -> bool:
        """Whether permissions are enforced (principals are configured)."""
        return bool(self.principals)

    def set_principals(self, items: list[dict[str, Any]]) -> None:
        """Replace the principals (an empty list turns IAM off)."""
        self.principals = [Principal.from_json(item) for item in items]

    def authenticate(self, token: str | None) -> Principal | None:
        """The caller; UNAUTHENTICATED if a token is needed and missing or unknown."""
        if not token:
            if self.require_auth or self.enabled:
                raise ApiError("UNAUTHENTICATED", _MISSING, [error_info("CREDENTIALS_MISSING")])
            return None
        if not self.enabled:
            return None
        for principal in self.principals:
            if token in principal.tokens:
                return principal
        raise ApiError("UNAUTHENTICATED", _INVALID, [error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED")])

    def authorize(self, principal: Principal | None, permission: str, resource: str) -> None:
        """PERMISSION_DENIED, worded like Vertex, unless the caller holds ``permission``."""
        if not self.enabled or principal is None or principal.holds(permission):
            return
        full = f"//aiplatform.googleapis.com/{resource}"
        message = f"Permission '{permission}' denied on resource '{full}' (or it may not exist)."
        raise ApiError(
            "PERMISSION_DENIED",
            message,
            [error_info("IAM_PERMISSION_DENIED", permission=permission, resource=resource)],
        )

    def authorize_act_as(self, principal: Principal | None, service_account: str) -> None:
        """INVALID_ARGUMENT (Vertex's answer) unless the caller may act as the job's service account."""
        if not self.enabled or principal is None or not service_account:
            return
        if principal.holds(f"{ACT_AS}:{service_account}"):
            return
        message = f"You do not have permission to act as service_account: {service_account}. (or it may not exist)."
        raise ApiError("INVALID_ARGUMENT", message)

    def held(
        self, principal: Principal | None, permissions: list[str], *, service_account: str | None = None
    ) -> list[str]:
        """The subset of ``permissions`` the caller holds (testIamPermissions).

        On the project, or on ``service_account``, where a grant on that one account (``PERMISSION:EMAIL``)
        counts too.
        """
        if not self.enabled or principal is None:
            return list(permissions)
        return [
            permission
            for permission in permissions
            if principal.holds(permission)
            or (service_account is not None and principal.holds(f"{permission}:{service_account}"))
        ]

    def to_json(self) -> list[dict[str, Any]]:
        """JSON-able form."""
        return [principal.to_json() for principal in self.principals]
