"""OpenAI-compatible chat completions over plain HTTP (stdlib urllib, no client package).

Works with hosted APIs and with local servers that speak the same protocol (llama.cpp's
``llama-server``, Ollama's ``/v1``, vLLM).  Settings: ``enhancement.openai_base_url`` (or the
``OPENAI_BASE_URL`` environment variable), ``enhancement.openai_model`` (or ``OPENAI_MODEL``),
the key from ``OPENAI_API_KEY`` (optional for local servers), ``enhancement.timeout_s``.

Credentials in the URL (``https://user:password@host/v1``, percent-encoded where needed) are taken
out of it and sent as HTTP Basic auth, for a server behind a reverse proxy with a password.  Together
with ``OPENAI_API_KEY`` they are refused (one request carries one ``Authorization`` header; which one
was meant cannot be guessed).  No message or log line shows the key, the password or the header: all
of them pass through :func:`infocir.redaction.redact` with the secrets of the request.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from infocir.enhance.base import KEPT, EnhancementError, Provider, VisualContext
from infocir.enhance.prompting import SYSTEM, build_prompt, parse_candidates
from infocir.enhance.registry import register
from infocir.redaction import display_url, redact, redact_cut, split_credentials

if TYPE_CHECKING:
    from infocir.config import AppConfig

log = logging.getLogger(__name__)
HOSTED_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def settings(cfg: AppConfig) -> tuple[str, str, str | None]:
    """(base URL, model, key) from the config and the environment; the URL is "" when nothing is set."""
    key = os.environ.get("OPENAI_API_KEY") or None
    url = cfg.enhancement.openai_base_url or os.environ.get("OPENAI_BASE_URL", "") or (HOSTED_URL if key else "")
    model = cfg.enhancement.openai_model or os.environ.get("OPENAI_MODEL", "") or DEFAULT_MODEL
    return url.rstrip("/"), model, key


BOTH_CREDENTIALS = (
    "enhancement.openai_base_url holds a user name and password and OPENAI_API_KEY is set as well; "
    "a request carries one Authorization header (Basic from the URL or Bearer from the key), so remove "
    "the credentials from the URL or unset OPENAI_API_KEY"
)


def connection(cfg: AppConfig) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(the base URL without credentials, the auth headers, the secrets every message is redacted with).

    ``https://user:password@host/v1`` becomes Basic auth; ``OPENAI_API_KEY`` a Bearer token; both at
    once is an EnhancementError.  A URL that is not http(s) is an EnhancementError naming the setting.
    """
    url, _, key = settings(cfg)
    clean, creds = split_credentials(url)
    scheme = urllib.parse.urlsplit(clean).scheme.lower()
    if scheme not in ("http", "https") or not urllib.parse.urlsplit(clean).hostname:
        raise EnhancementError(
            f"enhancement.openai_base_url ({display_url(url)}) is not an http:// or https:// URL "
            f"with a host; {KEPT}. Use e.g. http://127.0.0.1:8080/v1 or https://api.openai.com/v1."
        )
    if creds is None:
        return clean, ({"Authorization": f"Bearer {key}"} if key else {}), tuple(s for s in (key,) if s)
    if key:
        raise EnhancementError(f"{BOTH_CREDENTIALS}; {KEPT}.")
    user, password = creds
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    host = urllib.parse.urlsplit(clean).hostname or ""
    if scheme == "http" and host not in _LOOPBACK:
        log.warning("enhancement.openai_base_url sends a password over plain http to %s: use https", display_url(clean))
    # The user part goes too: "https://TOKEN@host" is a common way to pass a token alone.
    return clean, {"Authorization": f"Basic {token}"}, tuple(s for s in (password, user, token) if s)


def endpoint(base_url: str) -> str:
    """``{base}/chat/completions`` (a base URL that already names the endpoint is used as is)."""
    return base_url if base_url.endswith("/chat/completions") else f"{base_url}/chat/completions"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib follows a redirect with the same headers, Authorization included, to any host: refuse."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx code


def post_json(url: str, body: dict, headers: dict[str, str], timeout: float) -> bytes:
    """POST ``body`` as JSON and return the raw answer.  The one network call of this provider."""
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}
    )
    host = urllib.parse.urlsplit(url).hostname or ""
    # A local server must not be sent through an http_proxy from the environment.
    handlers = [_NoRedirect()] + ([urllib.request.ProxyHandler({})] if host in _LOOPBACK else [])
    opener = urllib.request.build_opener(*handlers)
    with opener.open(req, timeout=timeout) as resp:
        return resp.read()


def _http_hint(code: int) -> str:
    if 300 <= code < 400:
        return (
            "the server redirects elsewhere, and the key is not sent after a redirect: "
            "set enhancement.openai_base_url to the final address"
        )
    if code in (401, 403):
        return "the API key was rejected: check OPENAI_API_KEY"
    if code == 404:
        return "check enhancement.openai_base_url (usually ends in /v1) and enhancement.openai_model"
    if code == 429:
        return "rate limit or quota reached: wait and try again"
    if code >= 500:
        return "the server failed: check its log or try again"
    return "check enhancement.openai_model and the server's documentation"


def _content(raw: bytes, where: str, secrets: tuple[str, ...] = ()) -> str:
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        raise EnhancementError(
            f"The OpenAI-compatible server at {where} answered with something that is not JSON; "
            f"{KEPT}. Check that enhancement.openai_base_url points at its API (…/v1)."
        ) from None
    try:
        return data["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        err = data.get("error") if isinstance(data, dict) else None
        # a server's error text may echo the request's Authorization header: redact, then cut
        detail = (
            f" ({redact_cut(err.get('message', err) if isinstance(err, dict) else err, 200, *secrets)})" if err else ""
        )
        raise EnhancementError(
            f"The OpenAI-compatible server at {where} gave no chat completion{detail}; {KEPT}."
        ) from None


@register
class OpenAICompatProvider(Provider):
    name = "openai"
    label = "OpenAI-compatible server"
    order = 20
    description = (
        "Chat completions from OpenAI or a local llama.cpp / Ollama / vLLM server (enhancement.openai_base_url)."
    )

    def available(self, cfg: AppConfig) -> tuple[bool, str]:
        url, _, key = settings(cfg)
        if not url:
            return (
                False,
                "set enhancement.openai_base_url (e.g. http://127.0.0.1:8080/v1 for llama.cpp) or OPENAI_API_KEY",
            )
        if key and split_credentials(url)[1] is not None:
            return False, BOTH_CREDENTIALS
        return True, ""

    def generate(self, context: VisualContext, n: int, cfg: AppConfig) -> list[str]:
        url, model, _ = settings(cfg)
        if not url:
            raise EnhancementError(
                f"No OpenAI-compatible server is configured; {KEPT}. Set enhancement.openai_base_url or OPENAI_API_KEY."
            )
        url, headers, secrets = connection(cfg)
        timeout = cfg.enhancement.timeout_s
        where = redact(display_url(url), *secrets)
        body = {
            "model": model,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": build_prompt(context, n, cfg.enhancement.use_context)},
            ],
            "temperature": 0.7,
        }
        try:
            raw = post_json(endpoint(url), body, headers, timeout)
        except urllib.error.HTTPError as exc:
            try:
                detail = exc.read(4000).decode("utf-8", "replace").strip()
            except Exception:  # the error body is a courtesy; its absence must not hide the status
                detail = ""
            # redact the whole body first: cut first, a secret across the cut would survive in part
            detail = redact_cut(detail, 200, *secrets) if detail else ""
            msg = f"The OpenAI-compatible server at {where} answered HTTP {exc.code}" + (
                f" ({detail})" if detail else ""
            )
            hint = _http_hint(exc.code)
            raise EnhancementError(redact(f"{msg}; {KEPT}. {hint[0].upper()}{hint[1:]}.", *secrets)) from None
        except TimeoutError:
            raise EnhancementError(self._timeout_message(where, timeout)) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise EnhancementError(self._timeout_message(where, timeout)) from None
            why = "connection refused" if isinstance(exc.reason, ConnectionRefusedError) else str(exc.reason)
            raise EnhancementError(
                redact(
                    f"Could not reach the OpenAI-compatible server at {where} ({why}); {KEPT}. "
                    "Start the server or fix enhancement.openai_base_url.",
                    *secrets,
                )
            ) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise EnhancementError(
                redact(
                    f"The connection to the OpenAI-compatible server at {where} failed "
                    f"({type(exc).__name__}); {KEPT}. Check the server.",
                    *secrets,
                )
            ) from None
        log.info("OpenAI-compatible answer from %s (%d bytes)", where, len(raw))
        return parse_candidates(_content(raw, where, secrets), n, context.original_text)

    @staticmethod
    def _timeout_message(where: str, timeout: float) -> str:
        return (
            f"The OpenAI-compatible server at {where} did not answer within {timeout:g} s; {KEPT}. "
            "Raise enhancement.timeout_s or check the server."
        )
