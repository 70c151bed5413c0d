"""Panel A's method settings: what a query may change for the method chosen (pure: specs, parsing, checks).

Two kinds of setting reach a method: its declared parameters (``Param``: OTI's steps, feedback's α, β, γ,
fusion's members and weights, two-phase's m) and, for methods that read the configuration, the values of its
section (BASIC's λ, query-expansion k, preset) sent as per-query ``settings`` (``RetrievalEngine.context_for``).
Every scalar int/float parameter a method declares gets a box without listing it here; the few that need a
choice list are added by name.  Values left at their default are not sent: the search stays the plain one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infocir.config import BASIC_PRESETS, AppConfig
from infocir.methods.registry import create_method

PARAM, CONFIG = "param", "config"


@dataclass(frozen=True)
class SettingSpec:
    """One box of the form: ``key`` is "param.<name>" or "config.<section>.<field>"."""

    key: str
    label: str
    kind: str  # "int", "float", "choice", "multi", "floats", "bool"
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def target(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]


def _or(value, default):
    return default if value is None else value


def settings_for(method: str, cfg: AppConfig, available: list[str], fallback: str | None = None) -> list[SettingSpec]:
    """The settings panel A offers for ``method`` (``available``: the methods that can run, for choice lists;
    ``fallback``: the method that stands in for an unavailable configured one, as ``fallback_method_name``)."""
    m = create_method(method)
    specs: list[SettingSpec] = []
    config_default = {  # parameters whose None default means "the configured value"
        "feedback": {n: getattr(cfg.feedback, n) for n in ("alpha", "beta", "gamma")},
        "two_phase": {
            "m": cfg.two_phase.m,
            "text_weight": cfg.two_phase.text_weight,
            "image_weight": cfg.two_phase.image_weight,
        },
    }.get(m.name, {})
    for name, p in m.parameters.items():
        if p.kind in (int, float):
            default = _or(p.default, config_default.get(name))
            if default is None:
                continue
            specs.append(SettingSpec(f"{PARAM}.{name}", name, p.kind.__name__, default, p.min, p.max, help=p.help))
    if m.name == "fusion":
        members = [n for n in ("searle", "average", "weicom", "basic") if n in available]
        choices = tuple(n for n in available if n not in ("fusion", "feedback", "oti"))
        specs[:0] = [
            SettingSpec(
                f"{PARAM}.methods", "members", "multi", members, choices=choices, help="methods whose lists vote"
            ),
            SettingSpec(
                f"{PARAM}.weights",
                "weights",
                "floats",
                [1.0] * len(members),
                0.0,
                100.0,
                help="a vote weight per member, in the order listed (comma-separated)",
            ),
        ]
    if m.name == "feedback":  # only a method that composes one query vector can be moved
        vector = tuple(n for n in available if n != "feedback" and create_method(n).composes_vector())
        specs.insert(
            0,
            SettingSpec(
                f"{PARAM}.base",
                "base method",
                "choice",
                # the base feedback really moves: the configured one, or what stands in when it cannot run here
                cfg.feedback.base_method if cfg.feedback.base_method in vector else (fallback or vector[0]),
                choices=vector,
                help="the method whose query the marks move",
            ),
        )
    if m.name == "basic":
        b = cfg.basic
        specs += [
            SettingSpec(
                f"{CONFIG}.basic.preset",
                "preset",
                "choice",
                b.preset,
                choices=tuple(BASIC_PRESETS),
                help="the authors' recommended configurations (custom: the fields below)",
            ),
            SettingSpec(
                f"{CONFIG}.basic.harris_lambda",
                "λ (Harris)",
                "float",
                b.harris_lambda,
                0.0,
                100.0,
                help="--harris_lambda: the fusion's penalty on one-sided similarity",
            ),
            SettingSpec(
                f"{CONFIG}.basic.query_expansion",
                "query expansion",
                "bool",
                b.query_expansion,
                help="--do_query_expansion",
            ),
            SettingSpec(f"{CONFIG}.basic.qe_k", "QE k", "int", b.qe_k, 1, 1000, help="neighbours of the expansion"),
        ]
    return specs


class SettingError(ValueError):
    """A setting the page cannot use; the message names it and the allowed values."""


def parse_settings(specs: list[SettingSpec], values: dict[str, Any]) -> tuple[dict, dict]:
    """The method parameters and the configuration settings of the page's boxes (``values``: key → what the box
    holds), checked; values equal to the default are left out.  SettingError with a sentence on a bad value."""
    params: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for spec in specs:
        if spec.key not in values:
            continue
        value = _checked(spec, values[spec.key])
        if value == spec.default:
            continue
        if spec.target == PARAM:
            params[spec.name] = value
        else:
            settings[spec.name] = value
    if "weights" in params or "methods" in params:  # weights pair with the members listed
        members = params.get("methods", next(s.default for s in specs if s.name == "methods"))
        weights = params.get("weights", [1.0] * len(members))
        if len(weights) != len(members):
            raise SettingError(
                f"weights: give one per member ({len(members)}: {', '.join(members)}), got {len(weights)}."
            )
        params["methods"], params["weights"] = list(members), list(weights)
    return params, settings


def _checked(spec: SettingSpec, raw: Any) -> Any:
    where = f"{spec.label}"
    if spec.kind in ("int", "float"):
        if raw is None or raw == "" or isinstance(raw, bool):
            raise SettingError(f"{where}: give a number{_range(spec)}.")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SettingError(f"{where}: {raw!r} is not a number.") from None
        if spec.kind == "int":
            if not value.is_integer():
                raise SettingError(f"{where} must be a whole number{_range(spec)}, got {raw}.")
            value = int(value)
        if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            raise SettingError(f"{where} must be{_range(spec)}, got {raw}.")
        return value
    if spec.kind == "choice":
        if raw not in spec.choices:
            raise SettingError(f"{where}: choose one of {', '.join(spec.choices)}.")
        return raw
    if spec.kind == "multi":
        chosen = [c for c in spec.choices if c in (raw or [])]  # in the order shown: the weights follow it
        if not chosen:
            raise SettingError(f"{where}: choose at least one of {', '.join(spec.choices)}.")
        return chosen
    if spec.kind == "floats":
        parts = [p.strip() for p in str(raw if not isinstance(raw, list) else ",".join(map(str, raw))).split(",")]
        try:
            out = [float(p) for p in parts if p]
        except ValueError:
            raise SettingError(f"{where}: comma-separated numbers, e.g. 1, 0.5, 2.") from None
        if any(not (spec.lo or 0.0) <= w <= (spec.hi or 100.0) for w in out):
            raise SettingError(f"{where}: each from {spec.lo:g} to {spec.hi:g}.")
        return out
    if spec.kind == "bool":
        return bool(raw) if not isinstance(raw, list) else "on" in raw
    raise SettingError(f"{where}: unknown kind {spec.kind}")  # a spec written wrong, not a user's mistake


def _range(spec: SettingSpec) -> str:
    if spec.lo is not None and spec.hi is not None:
        return f" from {spec.lo:g} to {spec.hi:g}"
    if spec.lo is not None:
        return f" of at least {spec.lo:g}"
    return ""
