"""One redaction helper for everything that may carry a secret to the page or the log.

Every prompt-enhancement provider passes its messages through :func:`redact` (with the key it used)
before they leave it, and the server's log filter uses it for request lines.  Besides the secrets it
is given (and their JSON-escaped, URL-quoted and partially echoed forms) it masks what looks like a
credential whoever it belongs to:

* ``scheme://user:password@host`` → ``scheme://***@host``
* ``Bearer …`` / ``Basic …`` and ``Authorization: …``
* ``?key=…``, ``&token=…``, ``api_key=…``, ``password=…`` and similar query parameters
* OpenAI-style ``sk-…`` and Google-style ``AIza…`` keys

Redact first and cut afterwards: a message cut in the middle of a secret leaves a piece that no
longer matches it.
"""

from __future__ import annotations

import json
import re
import urllib.parse

MASK = "***"
# A secret echoed in part (a server that cuts its echo at 20 characters) is still caught: every run
# of at least this many characters that also occurs in the secret is masked.
_WINDOW = 8

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s\"'<>]*@")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=:-]{8,})")
_AUTH_HEADER = re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)(?!\*\*\*|bearer\b|basic\b)[^\s\"',;}]+")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;\s\"']|^)((?:api[-_]?key|x-goog-api-key|key|access[-_]?token|token|password|passwd|pwd|secret|"
    r"client[-_]?secret|sig|signature)=)[^&#\s\"'<>]+"
)
_KEY_SHAPES = re.compile(r"\b(?:sk-[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,})")


def _variants(secret: str) -> set[str]:
    """The forms a secret takes when a server or a library echoes it."""
    forms = {secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return {f for f in forms if f}


def _mask_windows(text: str, secret: str) -> str:
    """Mask every run of ``_WINDOW`` or more characters of ``text`` that also occurs in ``secret``."""
    if len(secret) < _WINDOW or len(text) < _WINDOW:
        return text
    grams = {secret[i : i + _WINDOW] for i in range(len(secret) - _WINDOW + 1)}
    covered = [False] * len(text)
    for i in range(len(text) - _WINDOW + 1):
        if text[i : i + _WINDOW] in grams:
            for j in range(i, i + _WINDOW):
                covered[j] = True
    if not any(covered):
        return text
    out, i = [], 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append(MASK)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _mask_credential(m: re.Match) -> str:
    """``Bearer <token>`` / ``Basic <base64>``: masked when the word after it looks like a credential
    (a digit, ``+/=_-`` or an inner capital), so that prose such as "basic authentication" stays."""
    tok = m.group(3)
    if any(c.isdigit() or c in "+/=_-" for c in tok) or any(c.isupper() for c in tok[1:]):
        return f"{m.group(1)}{m.group(2)}{MASK}"
    return m.group(0)


def redact(message: object, *secrets: str | None) -> str:
    """``message`` (as text) with every given secret and every credential-shaped string masked."""
    text = str(message)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in sorted(_variants(secret), key=len, reverse=True):
            if len(form) >= _WINDOW:
                text = text.replace(form, MASK)
            else:  # a short secret: whole words only, so that "pw" does not eat every "pwd"
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", MASK, text)
        text = _mask_windows(text, secret)
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _AUTH_SCHEME.sub(_mask_credential, text)
    text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    text = _QUERY_SECRET.sub(rf"\1\2{MASK}", text)
    return _KEY_SHAPES.sub(MASK, text)


def redact_cut(message: object, limit: int, *secrets: str | None) -> str:
    """:func:`redact`, then at most ``limit`` characters (never the other way round)."""
    text = redact(message, *secrets)
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://user:pass@host/v1`` → (``https://host/v1``, ("user", "pass")), percent-decoded;
    a URL without a user part comes back unchanged with None."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    clean = urllib.parse.urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, (urllib.parse.unquote(user), urllib.parse.unquote(password))


_LEADING_USERINFO = re.compile(r"^((?:[a-z][a-z0-9+.-]*:)?/*)[^/?#\s]*@", re.IGNORECASE)


def display_url(url: str) -> str:
    """A URL as it may be shown: no user part (also in a URL without ``//``, such as
    ``user:pass@host/v1``), no secret query values."""
    return redact(_LEADING_USERINFO.sub(rf"\1{MASK}@", split_credentials(url)[0]))
