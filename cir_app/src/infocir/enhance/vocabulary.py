"""The words the offline generator and the LLM context are built from, and how to phrase them.

A word has a *kind* (what it changes: colour, size, class, ...).  The kind picks the phrasings
("make it {w}", "on a {w} background", ...) and the probe text whose CLIP feature is compared
with image features.  The built-in list is generic (colours, materials, styles, sizes, scenes,
patterns); the dataset's class names and, for the demo world, its attribute words are added.
"""

from __future__ import annotations

from infocir.data import demo_world as W

# Generic visual words, grouped by kind.  Kept short: every word costs one text encoding per engine.
GENERIC: dict[str, tuple[str, ...]] = {
    "colour": (
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
        "purple",
        "pink",
        "brown",
        "black",
        "white",
        "grey",
        "gold",
        "silver",
        "beige",
        "turquoise",
        "colourful",
    ),
    "size": ("small", "large", "tiny", "big", "huge"),
    "material": ("wooden", "metal", "glass", "plastic", "leather", "stone", "paper", "fabric", "ceramic"),
    "style": (
        "sketch",
        "outline",
        "filled",
        "cartoon",
        "painting",
        "watercolour",
        "pencil drawing",
        "photo",
        "3d render",
        "pixel art",
        "origami",
        "sculpture",
        "toy",
        "embroidery",
        "graffiti",
        "tattoo",
        "black and white",
    ),
    "pattern": ("striped", "dotted", "checkered", "plain", "grid", "gradient", "floral"),
    "scene": (
        "on a beach",
        "in a forest",
        "in the snow",
        "at night",
        "in a city street",
        "indoors",
        "in the desert",
        "underwater",
        "on grass",
        "in the sky",
        "on a table",
    ),
}
DEMO_KIND = {"shape": "class", "colour": "colour", "size": "size", "background": "background", "style": "style"}
ATTRIBUTE_NAMES = {
    "colour": ("colour", "color"),
    "class": ("shape", "class", "object", "type"),
    "size": ("size",),
    "background": ("background", "backdrop"),
    "style": ("style", "look", "drawing"),
}

_LARGER = frozenset(W.SIZE_WORDS["large"]) | {"bigger", "larger"}
_SMALLER = frozenset(W.SIZE_WORDS["small"]) | {"smaller"}
# Phrasings for words whose kind template would read badly (adjectives used as styles, sizes).
_SPECIAL: dict[str, tuple[str, ...]] = {
    "sketch": (
        "as a sketch",
        "as a hatched sketch",
        "as a rough pencil sketch",
        "sketched",
        "make it a sketch",
        "a hatched drawing of it",
    ),
    "outline": (
        "as an outline drawing",
        "only the outline",
        "just the contour",
        "outlined",
        "an outline of it",
        "draw only its edges",
    ),
    "filled": ("filled in", "as a solid shape", "fill it with colour", "a filled one", "solid", "make it solid"),
    "photo": ("as a photo", "a realistic photo of it"),
    "black and white": ("in black and white", "make it black and white"),
}
_SPECIAL.update({w: _SPECIAL["sketch"] for w in W.STYLE_WORDS["sketch"]})
_SPECIAL.update({w: _SPECIAL["outline"] for w in W.STYLE_WORDS["outline"]})
_SPECIAL.update({w: _SPECIAL["filled"] for w in W.STYLE_WORDS["filled"]})

TEMPLATES: dict[str, tuple[str, ...]] = {
    "class": (
        "make it a {w}",
        "turn it into a {w}",
        "a {w} instead",
        "change the shape to a {w}",
        "as a {w}",
        "replace it with a {w}",
        "the same but as a {w}",
        "a {w}",
    ),
    "colour": (
        "make it {w}",
        "change the colour to {w}",
        "in {w} instead",
        "the same but {w}",
        "a {w} one",
        "colour it {w}",
        "{w} this time",
        "{w}",
    ),
    "size": ("make it {w}", "a {w} one", "the same but {w}"),
    "background": (
        "on a {w} background",
        "with a {w} backdrop",
        "change the background to {w}",
        "put it on a {w} background",
        "the same on a {w} background",
        "{w} background",
    ),
    "pattern": ("on a {w} background", "with a {w} pattern", "make it {w}"),
    "material": ("made of {w}", "make it {w}", "a {w} one"),
    "style": ("as a {w}", "in {w} style", "make it a {w}", "a {w} version"),
    "scene": ("{w}", "put it {w}", "the same but {w}"),
    "other": ("make it {w}", "{w}", "with {w}"),
}
_PROBES = {"scene": "a photo of something {w}", "background": "a photo on a {w} background", "pattern": "a {w} photo"}


def phrases(word: str, kind: str) -> tuple[str, ...]:
    """Ways to ask for ``word`` as a change of its ``kind``, most direct first."""
    if kind == "size" and word in _LARGER:
        return ("make it bigger", "larger", "a bigger version", "enlarge it", f"a {word} one", f"make it {word}")
    if kind == "size" and word in _SMALLER:
        return (
            "make it smaller",
            "a smaller version",
            "shrink it",
            "reduce the size",
            f"a {word} one",
            f"make it {word}",
        )
    if word in _SPECIAL and kind in ("style", "other"):
        return _SPECIAL[word]
    return tuple(t.format(w=word) for t in TEMPLATES.get(kind, TEMPLATES["other"]))


def probe_text(word: str, kind: str) -> str:
    """The text whose CLIP feature stands for ``word`` when matched against image features."""
    return _PROBES.get(kind, "a photo of {w}").format(w=word)


def demo_word(attribute: str, value: str) -> tuple[str, str]:
    """(word, kind) for a demo-world attribute value ("background", "striped") → ("striped", "background")."""
    word = W.BACKGROUND_WORDS[value][0] if attribute == "background" else value
    return word, DEMO_KIND[attribute]


def build_vocabulary(classes: list[str], demo: bool) -> list[tuple[str, str]]:
    """(word, kind) pairs: the dataset's classes, the demo attribute words (when ``demo``), the generic list.
    A word appears once, with the first kind it was given (a class name stays a class)."""
    out: dict[str, str] = {}
    for c in classes:
        out.setdefault(c, "class")
    if demo:
        for attribute in W.ATTRIBUTES:
            for value in W.VALUES[attribute]:
                word, kind = demo_word(attribute, value)
                out.setdefault(word, kind)
        for words in (*W.SIZE_WORDS.values(), *W.STYLE_WORDS.values()):
            for w in words:
                out.setdefault(w, "size" if w in _LARGER | _SMALLER else "style")
    for kind, words in GENERIC.items():
        for w in words:
            out.setdefault(w, kind)
    return list(out.items())
