"""Who is calling, read from a request's headers and query, for the Live socket and the REST
API alike: the caller's API key (checked, never written down) and the name it gives its
session (a folder of the log directory only when it is a safe file name).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from loguru import logger

SESSION_HEADER = "x-viva-session-id"
RUN_HEADER = "x-viva-run"
# Where clients put a credential in the query (protocol reference §1.2): `?key=` and an
# ephemeral token's `?access_token=`.
SECRET_QUERY = ("key", "access_token")
REDACTED = "REDACTED"
# A session id names a folder: letters, digits, '.', '_' and '-', starting with a letter or a
# digit (so neither '.' nor '..'), 80 characters at most.
_SAFE_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def api_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The caller's key, from any of the places clients put it (protocol reference §1.2)."""
    if headers.get("x-goog-api-key"):
        return headers["x-goog-api-key"]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme in ("Token", "Bearer") and token and " " not in token:
        return token
    return query.get("key") or query.get("access_token") or None


def redacted_path(path: str) -> str:
    """The request's path and query as sent, with the value of every credential replaced."""
    base, mark, query = path.partition("?")
    if not mark:
        return path
    fields = []
    for field in query.split("&"):
        name, equals, _ = field.partition("=")
        fields.append(f"{name}={REDACTED}" if equals and name.lower() in SECRET_QUERY else field)
    return f"{base}?{'&'.join(fields)}"


def session_name(requested: str | None) -> str | None:
    """The session id a client asked for (x-viva-session-id), if it is safe as a folder name
    under the log directory; None (the emulator names the session) with a warning if not."""
    if not requested:
        return None
    if _SAFE_SESSION_ID.fullmatch(requested):
        return requested
    shown = requested if len(requested) <= 40 else requested[:40] + "..."
    logger.warning(f"emulator: {SESSION_HEADER} {shown!r} is not a safe file name "
                   "(letters, digits, '.', '_', '-', at most 80); the session gets a name of the emulator's")
    return None
