"""The text sent to an LLM and the robust parsing of what comes back."""

from __future__ import annotations

import json
import re

from infocir.enhance.base import KEPT, EnhancementError, VisualContext

MAX_WORDS = 25
MAX_CHARS = 200
SYSTEM = (
    "You rewrite modification texts for composed image retrieval. Answer only with the requested JSON array "
    "of strings, no explanations."
)

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)
_BULLET = re.compile(r"^\s*(?:[-*•>+]+|\(?\d{1,2}\s*[.):\]]|\d{1,2}\s+-)\s*")
_LABEL = re.compile(r"^(?:prompt|option|candidate|rewrite|query|text|variant)\s*#?\d*\s*[:\-–]\s*", re.I)
_PREAMBLE = re.compile(
    r"^(?:sure|certainly|of course|okay|ok|absolutely|great|here (?:are|is)|below (?:are|is)|i hope|hope this|"
    r"let me know|note:|these (?:prompts|rewrites|options)|feel free|the following)\b",
    re.I,
)
_REFUSAL = re.compile(
    r"\b(?:i\s*(?:am|'m)\s*(?:sorry|unable|not able)|i\s*(?:can(?:no|')t|cannot|won't|will not)|as an ai\b|"
    r"i\s*(?:must|have to)\s*decline|against (?:my|the) (?:guidelines|policy|policies)|not able to (?:help|comply))",
    re.I,
)
_KEYS = ("prompts", "candidates", "rewrites", "queries", "texts")
_QUOTES = "\"'`“”‘’«»"


def build_prompt(context: VisualContext, n: int, use_context: bool = True) -> str:
    """The user message: the task, the original text, the reference's class and (with ``use_context``)
    the ideals' classes, captions and distinguishing words; asks for ``n`` candidates as a JSON array."""
    lines = [
        "A user searches an image collection with a reference image plus a modification text that says how the "
        "wanted images differ from the reference (composed image retrieval).",
        f'Original modification text: "{context.original_text.strip()}"',
    ]
    if context.reference_class:
        lines.append(f"Reference image class: {context.reference_class}")
    if use_context:
        lines.append(f"The user marked {context.n_ideals} ideal image(s), the results they want. What they show:")
        if context.ideal_classes:
            lines.append("- classes: " + ", ".join(f"{c} ({k})" for c, k in context.ideal_classes))
        if context.ideal_captions:
            lines.append("- captions: " + "; ".join(f'"{c}"' for c in context.ideal_captions))
        if context.ideal_words:
            lines.append(
                "- words that set them apart from the reference: " + ", ".join(w.word for w in context.ideal_words)
            )
        if context.changed_attributes:
            ref = context.reference_attributes
            lines.append(
                "- attributes all ideals share that the reference lacks: "
                + ", ".join(
                    f"{a} {ref[a]} → {v}" if a in ref else f"{a} {v}" for a, v in context.changed_attributes.items()
                )
            )
    lines += [
        f"Write {n} alternative modification texts that would retrieve the ideal images. Each is one short phrase "
        "(under 15 words) describing the change relative to the reference; vary the wording; do not repeat the "
        "original text.",
        f"Answer with a JSON array of {n} strings and nothing else.",
    ]
    return "\n".join(lines)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _from_json(text: str) -> list | None:
    """The list of strings in a JSON answer (a bare array or an object holding one), else None."""
    for start, end in (("[", "]"), ("{", "}")):
        i, j = text.find(start), text.rfind(end)
        if i < 0 or j <= i:
            continue
        try:
            data = json.loads(text[i : j + 1])
        except ValueError:
            continue
        if isinstance(data, dict):
            lists = [v for k, v in data.items() if isinstance(v, list)]
            preferred = [data[k] for k in _KEYS if isinstance(data.get(k), list)]
            data = (preferred or lists or [[]])[0]  # valid JSON without a list: no candidates
        if isinstance(data, list):
            items = []
            for x in data:
                if isinstance(x, dict):  # [{"prompt": "..."}]
                    x = next(
                        (x[k] for k in ("prompt", "text", "candidate", "query") if isinstance(x.get(k), str)), None
                    )
                if isinstance(x, str):
                    items.append(x)
            return items
    return None


def _from_lines(text: str) -> list[str]:
    """Lines of a list answer; when some lines are numbered or bulleted, only those count."""
    raw = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]  # no headers
    marked = [ln for ln in raw if _BULLET.match(ln) and _BULLET.sub("", ln).strip()]
    lines = marked if marked else raw
    out = []
    for ln in lines:
        s = _BULLET.sub("", ln).strip()
        if s.endswith(":") or _PREAMBLE.match(s.strip(_QUOTES + "*_ ")):
            continue
        out.append(s)
    return out


def _clean(item: str) -> str:
    s = re.sub(r"\*\*|__", "", item).strip()
    s = _LABEL.sub("", s)
    for sep in (" — ", " – ", " -- ", " (this ", " (emphas", " (focus"):  # a trailing explanation
        if sep in s:
            s = s.split(sep)[0]
    s = s.strip().strip(_QUOTES).strip().rstrip(",;").strip().strip(_QUOTES).strip()
    s = s.rstrip(".").strip()
    return re.sub(r"\s+", " ", s)


def parse_candidates(text: str | None, n: int, original: str) -> list[str]:
    """Up to ``n`` distinct candidate texts from an LLM answer.

    Accepts JSON arrays or objects ({"prompts": [...]}), numbered or bulleted lists, markdown code
    fences, quotes and preambles; drops duplicates, empty or overly long items and the original itself.
    Raises EnhancementError when the answer is empty, a refusal, or holds no usable candidate.
    """
    body = (text or "").strip()
    if not body:
        raise EnhancementError(
            f"The language model returned an empty answer; {KEPT}. Try again or use the offline provider."
        )
    fenced = _FENCE.findall(body)
    inner = "\n".join(fenced) if fenced else body
    items = _from_json(inner)
    if items is None and inner.lstrip()[:1] in ("[", "{"):  # broken or cut-off JSON: keep its complete strings
        items = [m for m in re.findall(r'"([^"\n]+)"\s*[,\]}]', inner) if m.lower() not in _KEYS]
    if items is None:
        items = _from_lines(inner)
    seen = {_norm(original)}
    out: list[str] = []
    for item in items:
        s = _clean(str(item))
        key = _norm(s)
        if not key or key in seen or len(s) > MAX_CHARS or len(s.split()) > MAX_WORDS or _REFUSAL.search(s):
            continue
        seen.add(key)
        out.append(s)
        if len(out) == n:
            break
    if not out:
        if _REFUSAL.search(body):
            raise EnhancementError(
                f"The language model declined to rewrite the query; {KEPT}. "
                "Rephrase the query or use the offline provider."
            )
        raise EnhancementError(
            f"The language model's answer held no usable prompt (expected a list of short texts); "
            f"{KEPT}. Try again or use the offline provider."
        )
    return out
