"""Secrets are masked before a record is written to the outbox or sent (the server masks
again: defence in depth). The same key rules as the core crate's redactor: a key matches
when, lower-cased and without ``_ - .`` and spaces, it contains a secret fragment or equals
an exact secret word; texts are searched for URL passwords and bearer tokens."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

SECRET_FRAGMENTS = (
    "password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "accesskey",
    "authorization", "cookie", "sessionid", "privatekey", "credentials", "signature",
)
SECRET_EXACT = ("sid", "sig", "jwt", "otp")

# Bounded repetitions: an unbounded scheme makes a long word cost quadratic time.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^/\s:@]{1,256}:)[^/\s@]{1,256}(?P<tail>@)")
_BEARER = re.compile(r"(?i)(?P<head>bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def _normalize(key: str) -> str:
    return re.sub(r"[_\-. ]", "", key.lower())


def is_secret_key(key: str) -> bool:
    """True for a key whose value is hidden."""
    k = _normalize(key)
    return k in SECRET_EXACT or any(f in k for f in SECRET_FRAGMENTS)


def mask_text(text: str) -> str:
    """Masks secrets inside free text (URL passwords, bearer tokens)."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + m.group("tail"), text)
    return _BEARER.sub(lambda m: m.group("head") + REDACTED, text)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with secrets hidden."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v is not None else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value
