"""One typed configuration object for the whole application.

Nested frozen dataclasses hold every default.  Overrides apply in this order (later
wins): defaults < config file (TOML or JSON) < ``CIR_*`` environment variables <
command-line ``--set section.field=value`` (and the CLI's named flags).

Environment variables are ``CIR_<SECTION>_<FIELD>`` in upper case, e.g.
``CIR_DATASET_ROOT=/data/imgs`` or ``CIR_UI_PORT=8060``; a few short aliases from the
original InfoCIR README are accepted too (``CIR_PORT``, ``CIR_DATASET_ROOT_PATH``,
``CIR_CLIP_MODEL_NAME``, ``CIR_EVAL_TYPE``, ``CIR_PREPROCESS_TYPE``).

API keys are never part of this object: providers read them from the environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from infocir.errors import UserError

ENV_PREFIX = "CIR_"


class ConfigError(UserError, ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""


def _choices(*values: str, default: str) -> Any:
    return field(default=default, metadata={"choices": values})


def _bounded(default: Any, lo: float | None = None, hi: float | None = None) -> Any:
    return field(default=default, metadata={"min": lo, "max": hi})


def _matching(default: str, pattern: str, allowed: str) -> Any:
    """A string field that must fully match ``pattern`` (``allowed`` describes it in errors)."""
    return field(default=default, metadata={"pattern": pattern, "allowed": allowed})


@dataclass(frozen=True)
class DatasetConfig:
    root: str = ""  # empty: the generated demo world in <index.cache_dir>/demo_world
    # Index a deterministic random subset of this many images (a warning says how many are left out);
    # 0 = every image (the default: a folder is never sampled down unless asked).
    sample_size: int = _bounded(0, 0)
    class_names_file: str = "class_names.csv"
    captions_file: str = "captions.csv"  # image_id,caption rows: text-to-image evaluation and collection expansion
    demo_replicates: int = _bounded(3, 1, 20)  # demo world: images per attribute combination
    # Images with more pixels are skipped and listed in the build report (decompression bombs; a 144 MP
    # scan costs seconds and GBs per decode).  At most 178956970, where Pillow refuses files itself.
    max_image_pixels: int = _bounded(50_000_000, 1, 178_956_970)
    # Symlinks whose target is outside the dataset folder: "skip" (listed in the build report) or "follow"
    # (indexed and served).  The scan and the image route apply the same rule.
    symlinks: str = _choices("skip", "follow", default="skip")
    # How a changed folder is noticed: "stat" (size, mtime in ns, inode and ctime of every image) or
    # "content" (a hash of every file's bytes; reads the whole dataset at each start).
    fingerprint: str = _choices("stat", "content", default="stat")


@dataclass(frozen=True)
class ModelConfig:
    name: str = "InfoCIR-Demo-ViT"  # any open_clip model name or a registered JSON config
    # "demo": the committed demo weights; a file path; an open_clip tag (needs internet); "" random
    pretrained: str = "demo"
    preprocess: str = _choices("targetpad", "clip", default="targetpad")
    # SEARLE's TargetPad: pad until max/min side reaches this ratio, then resize + centre crop.
    targetpad_ratio: float = _bounded(1.25, 1.0, 10.0)
    # QuickGELU activations: "auto" for OpenAI's weights (the "openai" tag), "true"/"false" to decide.
    quick_gelu: str = _choices("auto", "true", "false", default="auto")
    config_dirs: tuple[str, ...] = ()
    # "auto": CUDA when torch sees a GPU, else the CPU; the startup log names the device chosen.
    device: str = _matching("auto", r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N, mps")
    # "auto": fp16 autocast for encoding on CUDA, fp32 on the CPU; fp64 is a numerics check.
    precision: str = _choices("auto", "fp32", "fp16", "bf16", "fp64", default="auto")
    phi_checkpoint: str = "demo"  # SEARLE φ: "demo", a .pt path with key "Phi", or "" (unavailable)
    # torch threads for queries once the index is ready (serve, search): one query on one thread does not
    # fight other processes for the cores (8 ms → 300 ms with all threads when a core is busy); 0 = torch's
    # default (all cores).  Index builds, evaluation and training always use every core.
    query_threads: int = _bounded(1, 0, 1024)
    seed: int = 0


@dataclass(frozen=True)
class RetrievalConfig:
    method: str = "searle"  # falls back to "average" in the UI while no φ checkpoint is available
    default_k: int = _bounded(24, 1, 100)
    # "auto": the torch backend (features on the GPU, topk there) when the model runs on CUDA and the features
    # fit in its free memory; else FAISS's IVF index from approximate_above images when FAISS is installed;
    # else exact numpy on the CPU.  faiss-*: the `faiss` extra (pip install 'infocir[faiss]'), see [faiss].
    backend: str = _choices(
        "auto", "exact", "torch", "faiss-flat", "faiss-ivf", "faiss-hnsw", "hashing", default="auto"
    )
    # From this many images "auto" searches approximately (benchmarks/RESULTS.md: exact costs ~17 ms per
    # query at 100k × 512 on one core, IVF under 1 ms at recall@10 ≥ 0.99); 0 = never.
    approximate_above: int = _bounded(200_000, 0)
    # The exact backend keeps a float32 copy of the (float16, memory-mapped) features when it fits in this many
    # MB (2 GB at 1M × 512): converting float16 per query costs ~6× the product itself.  Larger: blockwise.
    exact_ram_mb: int = _bounded(4096, 0)
    # The dashboard's "exclude the reference" switch starts here: a dataset image used as the reference is
    # left out of its own results (RetrievalEngine.search(exclude_reference=True)), as the evaluation does.
    exclude_reference: bool = True
    # Collection expansion (QT-FIRS): the captions of dataset.captions_file join the collection as items pointing to
    # their image; an image scores the max of its picture's and its captions' similarity (vector methods only).
    expansion: bool = False


@dataclass(frozen=True)
class FaissConfig:
    """FAISS indexes (retrieval.backend = faiss-flat / faiss-ivf / faiss-hnsw, or auto above approximate_above)."""

    nlist: int = _bounded(0, 0)  # IVF cells; 0: about 4·√N
    nprobe: int = _bounded(16, 1)  # IVF cells searched per query: recall against speed
    pq_m: int = _bounded(0, 0)  # IVF-PQ sub-quantisers (must divide the dimension); 0: float16 vectors
    hnsw_m: int = _bounded(32, 2, 256)  # HNSW links per node
    ef_construction: int = _bounded(80, 8)  # HNSW build breadth
    ef_search: int = _bounded(128, 1)  # HNSW search breadth: recall against speed
    train_size: int = _bounded(100_000, 1000)  # IVF training sample (at least 64 per cell)
    threads: int = _bounded(1, 0, 1024)  # FAISS (OpenMP) threads per query; 0 = all cores


@dataclass(frozen=True)
class HashingConfig:
    """Semantic hashing (retrieval.backend = hashing): one bit per dimension, Hamming search, exact re-ranking."""

    threshold: str = _choices("median", "mean", default="median")  # per-dimension cut that sets a bit
    sample: int = _bounded(100_000, 100)  # rows the medians are taken over (all when fewer)
    # nearest codes re-ranked by exact cosine (recall@10 at 100k × 512: 0.22 alone, 0.84 with 200, 1.00 with 1000);
    # 0 = rank by Hamming distance alone
    rerank: int = _bounded(1000, 0)


@dataclass(frozen=True)
class BasicConfig:
    """BASIC (i-CIR, billpsomas/icir).  Each field names the flag of the authors' run_retrieval.py it
    stands for; corpus files hold one text per line/row (CSV, first column)."""

    # A named configuration (BASIC_PRESETS below) applied before the fields given with it; "custom": the fields as set.
    preset: str = _choices("custom", "basic", "basic-no-qe", default="custom")
    positive_corpus: str = (
        "demo_subjects"  # --specified_corpus: a shipped corpus name (also generic_subjects) or a CSV path
    )
    negative_corpus: str = (
        "demo_styles"  # --specified_ncorpus (authors': generic_styles.csv, not shipped: give its path)
    )
    components: float = _bounded(250.0, 0.0)  # --num_principal_components_for_projection: >=1 count, <1 energy fraction
    negative_weight: float = _bounded(0.2, 0.0, 1.0)  # --aa: C = (1-aa)·S_pos − aa·S_neg (+1e-5)
    center: bool = True  # --standardize_features: images − image mean, texts and corpora − positive-corpus mean
    # --use_laion_mean: their data/laion_mean/laion_1m_mean_*.pkl ({'laion_1m_mean': tensor}) or a .npy [D];
    # empty: the mean of the query's database (what their code does without the flag)
    mean_file: str = ""
    project: bool = True  # --project_features: contrastive-PCA projection of the query image
    contextualize: bool = False  # --contextualize: text = mean of "{word} {text}" and "{text} {word}" features
    context_words: int = _bounded(100, 1)  # first rows of the positive corpus used to contextualize (theirs: 100)
    query_expansion: bool = True  # --do_query_expansion
    qe_k: int = _bounded(25, 1)  # neighbours (fixed at 25 in their code)
    qe_temperature: float = _bounded(10.0, 1e-4)  # weights ∝ exp(s / T); theirs exp(0.1·s), i.e. T = 10
    qe_include_query: bool = True  # the query joins its neighbours with similarity 1 (as theirs)
    normalize: bool = True  # --normalize_similarities
    # --path_to_synthetic_data: their folder (dataset_1_sd_clip.pkl.npy / _siglip) or that file; empty: the
    # 0.5th-percentile fallback (not the authors' rule); a path that does not exist is an error
    synthetic_data: str = ""
    harris_lambda: float = _bounded(0.1, 0.0)  # --harris_lambda


# The README's recommended configurations (the authors' METHOD_PRESETS["basic"]; BASIC† of their results
# table is it without query expansion).  Paths (corpora, mean, synthetic data) are left as configured.
_BASIC_FULL = {
    "center": True,
    "project": True,
    "contextualize": True,
    "context_words": 100,
    "query_expansion": True,
    "qe_k": 25,
    "qe_temperature": 10.0,
    "qe_include_query": True,
    "normalize": True,
    "negative_weight": 0.2,
    "components": 250.0,
    "harris_lambda": 0.1,
}
BASIC_PRESETS: dict[str, dict[str, Any]] = {
    "custom": {},
    "basic": _BASIC_FULL,
    "basic-no-qe": {**_BASIC_FULL, "query_expansion": False},
}
# section → {preset name → field values}; a section's "preset" field selects one.
SECTION_PRESETS: dict[str, dict[str, dict[str, Any]]] = {"basic": BASIC_PRESETS}


@dataclass(frozen=True)
class FeedbackConfig:
    """Rocchio relevance feedback: q' = α·q + β·mean(relevant) − γ·mean(non-relevant)."""

    alpha: float = _bounded(1.0, 0.0)
    beta: float = _bounded(0.75, 0.0)
    gamma: float = _bounded(0.15, 0.0)
    base_method: str = "searle"


@dataclass(frozen=True)
class TwoPhaseConfig:
    """Two-phase multimedia query (QT-FIRS, method "two_phase"): the text retrieves the top m, the reference image
    re-ranks them, and the two lists are fused by log-rank votes weighted as below."""

    m: int = _bounded(100, 1)
    text_weight: float = _bounded(1.0, 0.0)
    image_weight: float = _bounded(1.0, 0.0)


@dataclass(frozen=True)
class IndexConfig:
    cache_dir: str = "~/.cache/infocir"
    dtype: str = _choices("float16", "float32", default="float16")
    batch_size: int = _bounded(64, 1, 4096)
    chunk_size: int = _bounded(1024, 1)
    # Image-decoding worker processes of the build's DataLoader; -1: auto (0 on a CPU-only
    # machine with up to 2 cores, where decoding in the main process measured fastest).
    num_workers: int = _bounded(-1, -1, 64)


@dataclass(frozen=True)
class UIConfig:
    host: str = "127.0.0.1"
    port: int = _bounded(8051, 1, 65535)
    gallery_size: int = _bounded(24, 1, 100)
    gallery_row_size: int = _bounded(4, 1, 12)
    max_images_on_scatterplot: int = _bounded(100, 1)
    max_upload_mb: float = _bounded(10.0, 0.1)
    # Uploads with more pixels are refused with a message in panel A (checked before decoding).
    max_upload_pixels: int = _bounded(50_000_000, 1, 178_956_970)
    # true: Dash's dev tools on the development server; refused on a host other than loopback
    # (Werkzeug's interactive debugger runs any code a visitor types).
    debug: bool = False
    # "waitress": the production WSGI server; "dev": Werkzeug's development server (single machine only).
    server: str = _choices("waitress", "dev", default="waitress")
    threads: int = _bounded(8, 1, 64)  # waitress worker threads (requests served at once)
    # Access token for shared demos (best from CIR_UI_TOKEN): every request then needs it; "?token=…"
    # on the first visit sets a cookie.  Empty: no token.  Never logged or shown.
    token: str = field(default="", repr=False)
    # Panel A's reference picker lists at most this many dataset ids (the server searches the ids as one types;
    # shipping every id to the browser was 30 MB at 1M images).
    reference_options: int = _bounded(50, 1, 1000)
    # the benchmark view's queries: "demo" (queries.json beside the dataset), or circo, cirr, fashioniq, domain,
    # icir, captions when the dataset is that benchmark's images (``benchmark_path``: the folder of its files)
    benchmark: str = _choices("demo", "circo", "cirr", "fashioniq", "domain", "icir", "captions", default="demo")
    benchmark_path: str = ""
    # Panel D with more images than this: one density layer of every point (a 2-D histogram, log-scaled counts)
    # under a class-stratified sample of ``map_sample_points`` points; a lasso or box still selects every image
    # inside it (computed on the server).  0 = always the density layer.  At or below it: every point drawn.
    # 50,000: at 100k images drawing every point made a lasso send 1.1 MB of selected points (4.2 s to the gallery)
    # and search p95 1.05 s; as density, 2.7 kB and 0.71 s (benchmarks/browser_map_scale.py, RESULTS.md).
    map_density_above: int = _bounded(50_000, 0)
    # Points drawn over the density layer (hover, click, class colours).  Measured at 1M images in headless Chromium
    # (software WebGL, 2 cores): 30,000 → a 0.70 MB figure drawn in 0.9-1.0 s, as 10,000-20,000 are (0.8-1.1 s);
    # 50,000 → 1.08 MB, 0.9-1.1 s; 100,000 → 2.0 MB, 1.3-1.6 s.
    map_sample_points: int = _bounded(30_000, 10, 200_000)
    # Cells along the longer side of the map's density layer, at most (square cells; √N for fewer images, at
    # least 32); a 256 grid is ~90 kB on the wire.
    map_density_bins: int = _bounded(256, 16, 1024)


@dataclass(frozen=True)
class EnhancementConfig:
    provider: str = "auto"  # "auto" or a registered provider name (checked at start-up)
    candidate_prompts: int = _bounded(10, 1, 50)
    use_context: bool = True
    timeout_s: float = _bounded(30.0, 1)
    openai_base_url: str = ""
    openai_model: str = ""
    gemini_model: str = "gemini-1.5-flash"


@dataclass(frozen=True)
class SaliencyConfig:
    enabled: bool = True
    max_candidates: int | None = None  # None: all
    generate_reference: bool = True
    generate_candidates: bool = True
    generate_text_attribution: bool = True
    explainer: str = "grad_eclip"  # panel F1's default: a registered explainer name (checked at start-up)
    # Panel F2's default.  Exact occlusion: on the demo model Grad-ECLIP's word scores do not track what the
    # words do (Spearman -0.01 against occlusion over 40 prompts; README "Explanations"); both stay selectable.
    token_method: str = _choices("grad_eclip", "gradient_input", "occlusion", default="occlusion")
    max_side: int = _bounded(256, 32, 2048)  # saliency maps are computed at most this many pixels per side for display
    # Panel F1's reference map: "candidate" (the shown candidate's similarity followed through the method's
    # composition, e.g. φ, back into the reference), "query" (similarity to the composed query), "phi_norm".
    reference_view: str = _choices("candidate", "query", "phi_norm", default="candidate")
    output_dir: str = "out/saliency"  # where "Save maps" writes PNG overlays and .npy patch grids


@dataclass(frozen=True)
class SegmentationConfig:
    """Referring segmentation (``explain.segmentation``): the region of a result that the query text refers to."""

    provider: str = "saliency"  # "saliency" (the engine's own maps) or "clipseg"; checked against the registry
    explainer: str = "grad_eclip"  # saliency provider: the text-conditioned map (a registered explainer)
    layers: int = _bounded(0, 0)  # Grad-ECLIP summed over the last n blocks; 0 = all (README: IoU per setting)
    objectness: bool = True  # geometric mean with attention rollout (the class token's view of where objects are)
    # "otsu" or a fraction in (0, 1] of the map's maximum
    threshold: str = _matching("otsu", r"otsu|0?\.0*[1-9]\d*|1(\.0*)?", "otsu or a number in (0, 1]")
    min_area: float = _bounded(0.01, 0.0, 1.0)  # components beyond the largest smaller than this share are dropped
    keep: int = _bounded(1, 1, 16)  # connected components kept, largest first (holes filled)
    clipseg_path: str = ""  # clipseg provider: a local folder with a CLIPSeg model and processor (save_pretrained)
    clipseg_threshold: str = _matching("0.4", r"otsu|0?\.0*[1-9]\d*|1(\.0*)?", "otsu or a probability in (0, 1]")


@dataclass(frozen=True)
class UMAPConfig:
    pca_components: int = _bounded(80, 0)  # 0: no PCA pre-reduction
    n_neighbors: int = _bounded(25, 2)
    min_dist: float = _bounded(0.1, 0.0)
    spread: float = _bounded(1.0, 0.01)
    local_connectivity: float = _bounded(1.0, 0.0)
    n_epochs: int = _bounded(200, 10)
    metric: str = _choices("cosine", "euclidean", default="cosine")
    style_debiasing: bool = False
    alternative_projection: str = _choices("none", "ica", default="none")
    random_state: int = 42
    # Fit on a deterministic random sample of this many images (seeded by random_state) and place the others
    # with the fitted reducer's transform, in chunks; 0 = fit on every image.  Fitting all of 1M images takes
    # ~10-12 min and ~5 GB; a 20,000 sample keeps the fit under a minute, the placing is linear in N.
    fit_sample: int = _bounded(20_000, 0)


@dataclass(frozen=True)
class AppConfig:
    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    faiss: FaissConfig = FaissConfig()
    hashing: HashingConfig = HashingConfig()
    basic: BasicConfig = BasicConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    two_phase: TwoPhaseConfig = TwoPhaseConfig()
    index: IndexConfig = IndexConfig()
    ui: UIConfig = UIConfig()
    enhancement: EnhancementConfig = EnhancementConfig()
    saliency: SaliencyConfig = SaliencyConfig()
    segmentation: SegmentationConfig = SegmentationConfig()
    umap: UMAPConfig = UMAPConfig()

    @property
    def cache_dir(self) -> Path:
        return Path(os.path.expanduser(self.index.cache_dir))

    def with_overrides(self, overrides: Mapping[str, Any]) -> AppConfig:
        """A copy with ``{"section.field": value}`` applied (strings are parsed to the field's type)."""
        return apply_overrides(self, overrides)


SECTIONS = tuple(f.name for f in fields(AppConfig))
_ALIASES = {
    "PORT": "ui.port",
    "DATASET_ROOT_PATH": "dataset.root",
    "DATASET_SAMPLE_SIZE": "dataset.sample_size",
    "CLIP_MODEL_NAME": "model.name",
    "EVAL_TYPE": "retrieval.method",
    "PREPROCESS_TYPE": "model.preprocess",
}


# --------------------------------------------------------------------------- parsing
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(path: str, value: Any, typ: Any) -> Any:
    """Turn ``value`` (often a string from env/CLI) into ``typ``; raise ConfigError naming ``path``."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None
        return _coerce(path, value, args[0])
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return tuple(str(v) for v in value)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if typ is float:
            return float(value)
        if typ is str:
            return str(value)
    except (TypeError, ValueError):
        kind = {bool: "true/false", int: "an integer", float: "a number"}.get(typ, typ.__name__)
        raise ConfigError(f"{path}: {value!r} is not {kind}") from None
    return value


def _validate_field(path: str, f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{path}: {value!r} is not allowed; allowed values: {', '.join(meta['choices'])}")
    if "pattern" in meta and not (isinstance(value, str) and re.fullmatch(meta["pattern"], value)):
        raise ConfigError(f"{path}: {value!r} is not allowed; allowed values: {meta['allowed']}")
    lo, hi = meta.get("min"), meta.get("max")
    if value is not None and lo is not None and value < lo:
        raise ConfigError(
            f"{path}: {value!r} is below the minimum {lo}" + (f" (allowed range {lo}..{hi})" if hi is not None else "")
        )
    if value is not None and hi is not None and value > hi:
        raise ConfigError(f"{path}: {value!r} is above the maximum {hi} (allowed range {lo}..{hi})")


def validate(cfg: AppConfig) -> AppConfig:
    """Check every field's choices and bounds.  Plugin names (methods, explainers, providers) are
    plain strings here, checked against their registries where the engine and the CLI start
    (``infocir.plugins.check_plugin_names``)."""
    for sec in fields(cfg):
        section = getattr(cfg, sec.name)
        for f in fields(section):
            _validate_field(f"{sec.name}.{f.name}", f, getattr(section, f.name))
    return cfg


def apply_overrides(cfg: AppConfig, overrides: Mapping[str, Any]) -> AppConfig:
    """Apply ``{"section.field": value}`` pairs; unknown keys are an error listing the valid ones."""
    by_section: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        sec, _, name = key.partition(".")
        if sec not in SECTIONS:
            raise ConfigError(f"{key}: unknown section {sec!r}; sections: {', '.join(SECTIONS)}")
        section_cls = type(getattr(cfg, sec))
        types_ = _field_types(section_cls)
        if name not in types_:
            raise ConfigError(f"{key}: unknown field; fields of {sec}: {', '.join(types_)}")
        by_section.setdefault(sec, {})[name] = _coerce(key, value, types_[name])
    new = cfg
    for sec, values in by_section.items():
        if "preset" in values and sec in SECTION_PRESETS:
            # the preset first, then the fields given beside it (a later layer overrides both)
            _validate_field(
                f"{sec}.preset", {f.name: f for f in fields(type(getattr(cfg, sec)))}["preset"], values["preset"]
            )
            values = {**SECTION_PRESETS[sec][values["preset"]], **values}
        new = replace(new, **{sec: replace(getattr(new, sec), **values)})
    return validate(new)


def _flatten(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for sec, values in data.items():
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"{source}: top-level key {sec!r} must be a table of fields (sections: {', '.join(SECTIONS)})"
            )
        for name, value in values.items():
            out[f"{sec}.{name}"] = value
    return out


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML or JSON file of ``[section] field = value`` into flat overrides."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"config file {p}: cannot read ({exc.strerror})") from None
    try:
        if p.suffix == ".json":
            data = json.loads(text)
        else:
            import tomllib

            data = tomllib.loads(text)
    except ValueError as exc:
        raise ConfigError(f"config file {p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {exc}") from None
    return _flatten(data, str(p))


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``CIR_SECTION_FIELD`` variables (and the README aliases) as flat overrides."""
    out = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == "CIR_CONFIG":
            continue
        rest = key[len(ENV_PREFIX) :]
        if rest in _ALIASES:
            out[_ALIASES[rest]] = value
            continue
        sec, _, name = rest.lower().partition("_")
        if sec in SECTIONS and name:
            out[f"{sec}.{name}"] = value
        else:
            raise ConfigError(
                f"{key}: not a known setting; use CIR_<SECTION>_<FIELD> with a section of {', '.join(SECTIONS)}"
            )
    return out


def load_config(
    config_file: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    cli_overrides: Mapping[str, Any] | None = None,
) -> AppConfig:
    """Defaults < config file (argument or ``CIR_CONFIG``) < environment < command line."""
    environ = os.environ if environ is None else environ
    cfg = AppConfig()
    config_file = config_file or environ.get("CIR_CONFIG")
    if config_file:
        cfg = apply_overrides(cfg, read_config_file(config_file))
    cfg = apply_overrides(cfg, env_overrides(environ))
    return apply_overrides(cfg, dict(cli_overrides or {}))


def parse_set_arguments(items: list[str]) -> dict[str, str]:
    """``["model.name=ViT-B-32", ...]`` → overrides; a malformed item is a ConfigError."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"--set {item!r}: expected section.field=value, e.g. ui.port=8060")
        out[key.strip()] = value
    return out


def as_dict(cfg: AppConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
