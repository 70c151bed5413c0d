"""The built-in generator: candidate rewrites from what the ideals have in common, no network.

It turns the context's evidence into *change units* (a word and its kind): for the demo world the
attribute values every ideal shares and the reference lacks; otherwise the ideals' common class
and the vocabulary words that best separate the ideals from the reference.  Candidates are the
units in varied phrasings, combinations of units, an absolute description of the target, and
the original text refined with the top unit.  Deterministic: the same context gives the same list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from infocir.data import demo_world as W
from infocir.enhance.base import Provider, VisualContext
from infocir.enhance.registry import register
from infocir.enhance.vocabulary import ATTRIBUTE_NAMES, DEMO_KIND, demo_word, phrases

if TYPE_CHECKING:
    from infocir.config import AppConfig

MAX_UNITS = 5
_SYNONYMS: dict[str, Mapping[str, tuple[str, ...]]] = {
    "size": W.SIZE_WORDS,
    "style": W.STYLE_WORDS,
    "background": W.BACKGROUND_WORDS,
}
_ADJECTIVE_KINDS = ("size", "colour", "material", "pattern")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def change_units(context: VisualContext) -> list[tuple[str, str]]:
    """(word, kind) pairs worth asking for, most important first.

    With known demo attributes the changed attributes are the whole truth: vocabulary guesses would
    only add noise, so they are used only when the attributes explain nothing."""
    rank = {w.word: i for i, w in enumerate(context.ideal_words)}
    if context.attributes_known and context.changed_attributes:
        demo = [demo_word(a, v) for a, v in context.changed_attributes.items()]
        return sorted(demo, key=lambda wk: rank.get(wk[0], len(rank)))  # CLIP-salient changes first
    units: list[tuple[str, str]] = []
    top_class, count = context.ideal_classes[0] if context.ideal_classes else (None, 0)
    if top_class and count == context.n_ideals and top_class != context.reference_class:
        units.append((top_class, "class"))
    per_kind: dict[str, int] = {}
    for w in context.ideal_words:
        if len(units) >= MAX_UNITS:
            break
        if (w.word, w.kind) in units or w.word == context.reference_class:
            continue
        if phrases(w.word, w.kind)[0] in {phrases(*u)[0] for u in units}:  # a synonym ("huge" after "big")
            continue
        if w.kind == "class" and context.ideal_classes and w.word not in dict(context.ideal_classes):
            continue  # a class none of the ideals belongs to
        if per_kind.get(w.kind, 0) >= 2:  # a second word of a kind hedges; a third is noise
            continue
        per_kind[w.kind] = per_kind.get(w.kind, 0) + 1
        units.append((w.word, w.kind))
    return units


def _description(context: VisualContext, units: list[tuple[str, str]]) -> str | None:
    """An absolute description of the wanted image ("a large red star"), or None when there is too little."""
    if context.attributes_known and context.changed_attributes:
        values = {**context.reference_attributes, **context.shared_attributes}
        subset = [a for a in W.ATTRIBUTES if a in context.changed_attributes or (a == "shape" and a in values)]
        full = {a: values.get(a, W.VALUES[a][0]) for a in W.ATTRIBUTES}  # placeholders stay out of ``subset``
        return W.describe(W.Attributes(**full), subset=tuple(subset))
    by_kind = {k: w for w, k in reversed(units) if k in _ADJECTIVE_KINDS}  # the best word of each kind
    adjectives = [w for w, k in units if by_kind.get(k) == w][:2]
    if not adjectives:
        return None
    noun = next((w for w, k in units if k == "class"), None) or context.reference_class or "one"
    text = f"a {' '.join(adjectives)} {noun}"
    extra = next(((w, k) for w, k in units if k in ("background", "scene")), None)
    if extra:
        text += f" on a {extra[0]} background" if extra[1] == "background" else f" {extra[0]}"
    return text


_ARTICLE = re.compile(r"\ba (?=(?:[aeio]|u(?!ni|se))\w)(?!one\b)")


def _article(text: str) -> str:
    """ "a arrow" → "an arrow" (templates put "a" before any word)."""
    return _ARTICLE.sub("an ", text)


def _refine(original: str, word: str, kind: str, phrase: str) -> str | None:
    """The original text kept and completed with the top change ("change the colour" → "... to red")."""
    orig = original.strip().rstrip(".!?")
    if not orig or _norm(word) in _norm(orig).split():
        return None
    names = ATTRIBUTE_NAMES.get(kind, ())
    if kind in ("colour", "background", "class") and any(n in _norm(orig).split() for n in names):
        return f"{orig} to {'a ' if kind == 'class' else ''}{word}"
    return f"{orig}, {phrase}"


def _other_phrasings(options: list[tuple[str, ...]]) -> Iterator[str]:
    """Every phrasing after the first, round-robin over the units."""
    depth = max((len(p) for p in options), default=0)
    for level in range(1, depth):
        for p in options:
            if level < len(p):
                yield p[level]


def _demo_synonyms(context: VisualContext) -> Iterator[str]:
    """The demo world's synonyms of each changed value ("big", "huge", "polka dot"), in every phrasing."""
    for attribute, value in context.changed_attributes.items():
        kind = DEMO_KIND[attribute]
        for synonym in _SYNONYMS.get(attribute, {}).get(value, ()):
            yield from phrases(synonym, kind)


def _candidates(context: VisualContext) -> Iterator[str | None]:
    """Candidate rewrites, best first (duplicates and blanks are filtered by the caller)."""
    units = change_units(context)
    options = [phrases(w, k) for w, k in units]
    for p in options[:3]:
        yield p[0]
    if context.attributes_known and len(context.changed_attributes) > 1:
        yield " and ".join(p[0] for p in options[: len(context.changed_attributes)])
    elif len(options) > 1:
        yield f"{options[0][0]} and {options[1][0]}"
    yield _description(context, units)
    full = {**context.reference_attributes, **context.changed_attributes}
    if context.attributes_known and context.changed_attributes and set(full) == set(W.ATTRIBUTES):
        yield W.describe(W.Attributes(**full))  # the whole wanted image, every attribute named
    if units:
        yield _refine(context.original_text, *units[0], options[0][0])
    yield from _other_phrasings(options)
    if units and len(options) > 1:
        yield f"{options[1][0]} and {options[0][0]}"
    if context.attributes_known:
        yield from _demo_synonyms(context)
    exact = set(DEMO_KIND.values()) if context.attributes_known else set()
    for w in context.ideal_words:  # fill with lesser words rather than return too few
        if w.kind not in exact:
            yield phrases(w.word, w.kind)[0]


def generate_offline(context: VisualContext, n: int) -> list[str]:
    """Up to ``n`` distinct candidates (not the original), deterministic for a context."""
    seen = {_norm(context.original_text)}
    out: list[str] = []
    for candidate in _candidates(context):
        if len(out) >= n:
            break
        text = _article((candidate or "").strip())
        key = _norm(text)
        if key and key not in seen:
            seen.add(key)
            out.append(text)
    return out


@register
class OfflineProvider(Provider):
    name = "offline"
    label = "Offline generator"
    order = 30
    description = (
        "Built-in rewrites from what the ideals share (class names, attribute and vocabulary words); no network."
    )
    uses_network = False

    def generate(self, context: VisualContext, n: int, cfg: AppConfig) -> list[str]:
        return generate_offline(context, n)
