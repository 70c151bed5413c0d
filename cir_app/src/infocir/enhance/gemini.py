"""Google Gemini: ``google-genai`` (``from google import genai``) when installed, else the design's
``google-generativeai`` with the REST transport.  The key comes from ``GOOGLE_API_KEY`` or
``GEMINI_API_KEY``; the model from ``enhancement.gemini_model``; the timeout from ``enhancement.timeout_s``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import warnings
from typing import TYPE_CHECKING, Any

from infocir.enhance.base import KEPT, EnhancementError, Provider, VisualContext
from infocir.enhance.prompting import SYSTEM, build_prompt, parse_candidates
from infocir.enhance.registry import register
from infocir.redaction import redact, redact_cut

if TYPE_CHECKING:
    from infocir.config import AppConfig

log = logging.getLogger(__name__)
KEY_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
INSTALL_HINT = "pip install google-genai (or google-generativeai)"


def api_key() -> str | None:
    """The Gemini key from the environment (never from the config object)."""
    return next((os.environ[v] for v in KEY_VARS if os.environ.get(v)), None)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent namespace package without the submodule
        return False


def client_package() -> str | None:
    """ "google.genai", "google.generativeai" or None, in order of preference."""
    return next((m for m in ("google.genai", "google.generativeai") if _installed(m)), None)


def _import(module: str) -> Any:
    with warnings.catch_warnings():  # google-generativeai warns about its end of support on every import
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def _call_genai(prompt: str, key: str, model: str, timeout_s: float) -> str:
    genai = _import("google.genai")
    types = _import("google.genai.types")
    client = genai.Client(api_key=key, http_options=types.HttpOptions(timeout=int(timeout_s * 1000)))  # milliseconds
    resp = client.models.generate_content(
        model=model, contents=prompt, config=types.GenerateContentConfig(system_instruction=SYSTEM, temperature=0.7)
    )
    return resp.text or ""


def _call_generativeai(prompt: str, key: str, model: str, timeout_s: float) -> str:
    genai = _import("google.generativeai")
    # configure() sets that package's module-level client; REST avoids gRPC's long connection stalls.
    genai.configure(api_key=key, transport="rest")
    resp = genai.GenerativeModel(model, system_instruction=SYSTEM).generate_content(
        prompt, generation_config={"temperature": 0.7}, request_options={"timeout": timeout_s}
    )
    try:
        return resp.text
    except ValueError:  # no text part: the answer was blocked or empty
        raise EnhancementError(
            f"Gemini returned no text (the answer was blocked or empty); {KEPT}. "
            "Rephrase the query or use the offline provider."
        ) from None


def _is_timeout(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(
        names & {"TimeoutError", "timeout", "DeadlineExceeded", "ReadTimeout", "ConnectTimeout", "TimeoutException"}
    )


def _is_auth(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    text = str(exc)
    return (
        bool(names & {"PermissionDenied", "Unauthenticated"})
        or "API_KEY_INVALID" in text
        or "API key not valid" in text
    )


@register
class GeminiProvider(Provider):
    name = "gemini"
    label = "Google Gemini"
    order = 10
    description = "Gemini through google-genai or google-generativeai (key from GOOGLE_API_KEY or GEMINI_API_KEY)."

    def available(self, cfg: AppConfig) -> tuple[bool, str]:
        if not api_key():
            return False, "set GOOGLE_API_KEY or GEMINI_API_KEY in the environment"
        if client_package() is None:
            return False, f"no Gemini client is installed ({INSTALL_HINT})"
        return True, ""

    def call(self, prompt: str, key: str, cfg: AppConfig) -> str:
        """Send ``prompt`` and return the answer's text: the network boundary (tests stub it)."""
        package = client_package()
        if package is None:
            raise EnhancementError(f"No Gemini client is installed ({INSTALL_HINT}); {KEPT}.")
        call = _call_genai if package == "google.genai" else _call_generativeai
        return call(prompt, key, cfg.enhancement.gemini_model, cfg.enhancement.timeout_s)

    def generate(self, context: VisualContext, n: int, cfg: AppConfig) -> list[str]:
        key = api_key()
        if not key:
            raise EnhancementError(f"Gemini needs an API key in GOOGLE_API_KEY or GEMINI_API_KEY; {KEPT}.")
        prompt = build_prompt(context, n, cfg.enhancement.use_context)
        try:
            text = self.call(prompt, key, cfg)
        except EnhancementError:
            raise
        except Exception as exc:  # the client packages raise many types; the user needs one clear line
            timeout = cfg.enhancement.timeout_s
            if _is_timeout(exc):
                msg = f"Gemini did not answer within {timeout:g} s; {KEPT}. Raise enhancement.timeout_s or try again."
            elif _is_auth(exc):
                msg = f"Gemini rejected the API key; {KEPT}. Check GOOGLE_API_KEY / GEMINI_API_KEY."
            else:
                # redact before cutting: a key cut in half by [:200] would no longer match it
                msg = (
                    f"The Gemini request failed ({type(exc).__name__}: {redact_cut(exc, 200, key)}); {KEPT}. "
                    f"Check enhancement.gemini_model ({cfg.enhancement.gemini_model!r}) and the network."
                )
            log.warning("Gemini request failed: %s", redact(repr(exc), key))
            raise EnhancementError(redact(msg, key)) from None
        return parse_candidates(text, n, context.original_text)
