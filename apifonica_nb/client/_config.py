"""What a client is configured with: the constants, the SID rule, the base URL check, the env."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import ConfigurationError, InvalidRequestError

DEFAULT_BASE_URL = "https://api.apifonica.com/v2"
#: (connect, read) seconds, as requests takes them.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
#: Statuses worth retrying for an idempotent GET.
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: The longest exponential backoff between two attempts, in seconds.
BACKOFF_MAX = 30.0
#: The API pages 20 calls at a time and refuses more.
PAGE_LIMIT = 20
MAX_SID_LENGTH = 256

ENV_SID = "APIFONICA_ACCOUNT_SID"
ENV_TOKEN = "APIFONICA_AUTH_TOKEN"
ENV_URL = "APIFONICA_BASE_URL"

# Opaque, but in practice a type prefix plus a UUID-like body. Anything that could change the
# URL's meaning (/ ? # % whitespace, "..") is refused before a request is made.
_SID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def validate_call_sid(call_sid: object, *, what: str = "call_sid") -> str:
    """Return ``call_sid`` stripped of surrounding whitespace, or raise InvalidRequestError.

    Refused before any request: non-strings, empty or blank strings, more than 256 characters,
    and anything with characters that could change the URL (``/ ? # %``, spaces, control
    characters, ``..``).
    """
    if not isinstance(call_sid, str):
        raise InvalidRequestError(
            f"{what} must be a string such as 'cal…', got {type(call_sid).__name__}"
        )
    sid = call_sid.strip()
    if not sid:
        raise InvalidRequestError(f"{what} is empty; pass the SID shown in the call history")
    if len(sid) > MAX_SID_LENGTH:
        raise InvalidRequestError(
            f"{what} is {len(sid)} characters long; SIDs are at most {MAX_SID_LENGTH}"
        )
    if not _SID_RE.fullmatch(sid) or ".." in sid:
        shown = sid if len(sid) <= 60 else sid[:57] + "..."
        raise InvalidRequestError(
            f"{what} {shown!r} has characters no SID has (only letters, digits, '-', '_', "
            "'.', ':' are allowed); check for a pasting mistake"
        )
    return sid


def check_token(auth_token: object) -> str:
    """Return the auth token stripped, or raise ConfigurationError (never showing it)."""
    if not isinstance(auth_token, str) or not auth_token.strip():
        raise ConfigurationError(
            f"auth_token is empty; find it in the Apifonica console and pass it, or set {ENV_TOKEN}"
        )
    return auth_token.strip()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """Return ``base_url`` without a trailing slash, or raise ConfigurationError.

    Refused: anything but http(s), credentials inside the URL, and plain http to a host that
    is not loopback (the token would travel in clear text).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url {base_url!r} is not an http(s) URL; the default is {DEFAULT_BASE_URL!r}"
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            "base_url must not carry credentials; pass account_sid= and auth_token= instead"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"base_url {base_url!r} uses plain http to a non-local host, which would send the "
            "auth token in clear text; use https (http is allowed only for 127.0.0.1/localhost)"
        )
    return base_url.rstrip("/")


def settings_from_env(
    kwargs: dict[str, object], environ: Mapping[str, str] | None = None
) -> tuple[str, str, str]:
    """Return ``(account_sid, auth_token, base_url)`` from ``kwargs`` (popped) or the environment.

    The environment is read now, never at import; a missing SID or token is a
    ConfigurationError that says how to set them.
    """
    env = os.environ if environ is None else environ
    sid = kwargs.pop("account_sid", None) or env.get(ENV_SID)
    token = kwargs.pop("auth_token", None) or env.get(ENV_TOKEN)
    missing = [name for name, value in ((ENV_SID, sid), (ENV_TOKEN, token)) if not value]
    if missing:
        raise ConfigurationError(
            f"{' and '.join(missing)} not set. Export them (or load them from a .env file / "
            "getpass) before starting Jupyter, or call ap.connect() to use the sandbox."
        )
    base_url = kwargs.pop("base_url", None) or env.get(ENV_URL) or DEFAULT_BASE_URL
    return str(sid), str(token), str(base_url)
