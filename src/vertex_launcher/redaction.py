"""Secrets never reach a log line: recognise them by key name and by the look of the text, and replace them.

Used by ``logs`` (every record passes ``redact``), ``auth`` (error text from identity endpoints) and ``vertex``
(token-refresh errors) — one set of patterns for the whole launcher.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"


#: A key whose value is a secret: token, secret, password, private_key, credentials, authorization, api_key, …
#: (matched on snake_case words, so ``credential_source`` and ``tokenizer`` are not secrets).
_SECRET_KEY = re.compile(
    r"(^|_)(tokens?|secrets?|passwords?|passwd|passphrase|credentials|authorization|cookies?)(_|$)"
    r"|private_?key|api_?key|client_?secret|refresh_?token|access_?token"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: Secrets recognised inside any string, with what replaces them.
_SECRET_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]+=*"), rf"\1\2{REDACTED}"),
    (re.compile(r"\bya29\.[A-Za-z0-9_\-.]+"), REDACTED),  # Google OAuth access token
    (re.compile(r"\b1//[A-Za-z0-9_\-]{20,}"), REDACTED),  # Google OAuth refresh token
    (re.compile(r"\bAIza[A-Za-z0-9_\-]{35}\b"), REDACTED),  # Google API key
    (re.compile(r"\bGOCSPX-[A-Za-z0-9_\-]+"), REDACTED),  # OAuth client secret
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"), REDACTED),  # a JWT
    (
        re.compile(
            r"(?i)((?<![\w\-])[\w\-]{0,64}(?:token|secret|password|passwd|api[_\-]?key|assertion|private[_\-]?key)"
            r"[\w\-]{0,64}"
            r"[\"']?\s*[=:]\s*[\"']?)"
            r"(?!\[REDACTED\])[^\s\"',;&]+"
        ),
        rf"\1{REDACTED}",
    ),  # key=value inside text: --password=…, access_token=…&, "secret": "…" (anchored at a word's start and
    #     bounded, so a long run of word characters costs linear time, not quadratic: job log lines pass here)
)


def is_secret_key(key: str) -> bool:
    """True when a field named ``key`` holds a secret (``HF_TOKEN``, ``accessToken``, ``private_key``, …)."""
    return bool(_SECRET_KEY.search(_CAMEL.sub("_", key).lower()))


def redact_text(text: str) -> str:
    """``text`` with bearer/access/refresh tokens, JWTs, API keys, private keys and ``password=…`` replaced."""
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """A JSON-like value with every secret replaced by ``[REDACTED]``: by key name, then by the look of the text.

    Numbers, booleans and None under a secret-looking key are kept (``credentials_wait_seconds=30`` is no secret).
    """
    if key is not None and is_secret_key(key) and not (value is None or isinstance(value, bool | int | float)):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
