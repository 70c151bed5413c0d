"""Command line: ``python cir_app/run.py [serve|build-index|search|...]``.

Exit codes: 0 success, 1 a runtime problem the message explains (corrupt cache, model
that cannot load, unreadable dataset), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from infocir.config import AppConfig, ConfigError, load_config, parse_set_arguments
from infocir.plugins import check_plugin_names

log = logging.getLogger("infocir")

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def _common(p: argparse.ArgumentParser, method_flag: bool = True) -> None:
    g = p.add_argument_group("configuration (defaults < --config file < CIR_* env < these flags)")
    g.add_argument("--config", help="TOML or JSON config file ([section] field = value)")
    g.add_argument("--dataset", help="dataset folder (class sub-folders + class_names.csv); default: the demo world")
    g.add_argument("--model", help="open_clip model name, e.g. ViT-B-32 or InfoCIR-Demo-ViT")
    g.add_argument("--pretrained", help="'demo', a checkpoint file, an open_clip tag, or '' for random weights")
    g.add_argument("--device", help="auto (CUDA when available; the default), cpu, cuda, cuda:N")
    if method_flag:
        g.add_argument("--method", help="CIR method name (see 'methods')")
    g.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="any config field; repeatable"
    )
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    out = parse_set_arguments(args.set)
    for flag, key in (
        ("dataset", "dataset.root"),
        ("model", "model.name"),
        ("pretrained", "model.pretrained"),
        ("device", "model.device"),
        ("method", "retrieval.method"),
        ("port", "ui.port"),
        ("host", "ui.host"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            out[key] = value
    return out


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="run.py",
        description="InfoCIR: explainable composed image retrieval. Without a subcommand, serves the dashboard.",
    )
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="build what is missing and serve the dashboard (default)")
    _common(p)
    p.add_argument("--port", type=int, help="port (default 8051)")
    p.add_argument(
        "--host",
        help="interface to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes the "
        "dashboard to the network: set CIR_UI_TOKEN)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("build-index", help="encode the dataset into the feature index (resumable)")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="discard an existing index and build it again")
    g = p.add_argument_group("distributed build (the distributed extra: pip install 'infocir[distributed]')")
    g.add_argument(
        "--distributed",
        choices=("none", "ray"),
        default="none",
        help="ray: encode on Ray Data, a pool of model actors (one per GPU, else per CPU), on this machine or a "
        "cluster; the same index as the single-process build (docs/scaling.md). Default: none",
    )
    g.add_argument(
        "--address",
        help="the Ray cluster to use: 'auto' (the one `ray start --head` started on this machine), HOST:PORT or "
        "ray://HOST:10001; default: start a local Ray for the build and stop it after",
    )
    g.add_argument(
        "--ray-workers",
        type=_positive_int,
        metavar="N",
        help="actors encoding at once (default: the GPUs Ray reports, else its CPUs)",
    )
    p.set_defaults(func=cmd_build_index)

    p = sub.add_parser(
        "import-features",
        help="import precomputed features (clip-retrieval output or features.npy + ids.csv) as the index",
    )
    p.add_argument("folder", help="clip-retrieval output (img_emb/, metadata/) or a folder with features.npy + ids.csv")
    _common(p, method_flag=False)
    p.add_argument(
        "--path-prefix",
        help="prefix to strip from absolute image paths written on another machine "
        "(default: inferred from the first paths that match the dataset)",
    )
    p.add_argument(
        "--sample",
        type=int,
        default=16,
        help="images to encode here to check the features belong to the "
        "model and to estimate raw norms of normalised features (0: none)",
    )
    p.add_argument("--report", help="CSV of the rows left out (default: import-report.csv in the index folder)")
    p.set_defaults(func=cmd_import_features)

    p = sub.add_parser("search", help="print the ranked top-k for a reference image and a text")
    _common(p)
    p.add_argument("--reference", "-r", help="a dataset image id (e.g. star/star_00042.png) or an image file path")
    p.add_argument("--text", "-t", default="", help="the modification text, e.g. 'make it red'")
    p.add_argument("-k", type=int, default=None, help="number of results (default: retrieval.default_k)")
    p.add_argument(
        "--exclude-reference",
        action="store_true",
        help="leave a dataset reference out of its own results (the dashboard's switch)",
    )
    p.add_argument(
        "--relevant",
        action="append",
        default=[],
        metavar="ID",
        help="an image marked relevant (the page's ideals) for relevance feedback (--method feedback); repeatable",
    )
    p.add_argument(
        "--nonrelevant", action="append", default=[], metavar="ID", help="an image marked not relevant; repeatable"
    )
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("bench", help="run the benchmark suite (python -m benchmarks) from a source checkout")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed on, e.g. --full or --only search,map")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("methods", help="list the CIR methods and whether they are available")
    _common(p)
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("evaluate", help="score CIR methods on a benchmark (table + JSON/CSV)")
    _common(p, method_flag=False)
    p.add_argument("--benchmark", default="demo", help="benchmark name (see infocir.evaluation.benchmarks)")
    p.add_argument("--benchmark-path", help="folder of a public benchmark's files (CIRCO, CIRR, FashionIQ, ...)")
    p.add_argument(
        "--method", dest="methods", action="append", help="method to evaluate; repeatable (default: all available)"
    )
    p.add_argument("--out", default="out/eval", help="folder for results.json and results.csv")
    p.add_argument("--limit", type=int, help="evaluate only the first N queries")
    p.add_argument(
        "--feedback-iterations",
        type=int,
        default=0,
        metavar="N",
        help="also run N pseudo relevance-feedback iterations per method (QT-FIRS report's table: R@1/5/10, "
        "median and mean rank per iteration)",
    )
    p.add_argument("--top-positive", type=int, default=3, help="pseudo feedback: top P relevant (default 3)")
    p.add_argument(
        "--bottom-negative",
        type=int,
        default=0,
        help="pseudo feedback: bottom P of the top 10 not relevant (default 0)",
    )
    p.add_argument(
        "--breaking-rank", type=int, default=1, help="pseudo feedback: refine queries whose best target ranks below it"
    )
    p.add_argument(
        "--expansion",
        action="store_true",
        help="also evaluate each vector method with collection expansion (rows 'METHOD +expansion'; as "
        "--set retrieval.expansion=true); the captions benchmark expands with the captions held out of its queries",
    )
    p.add_argument(
        "--rank-table",
        action="store_true",
        help="also print the QT-FIRS table shape per method: R@1/5/10, median and mean rank of the best target",
    )
    p.add_argument(
        "--hashing",
        action="store_true",
        help="also compare semantic hashing (median and mean thresholds, with and without re-ranking) with float "
        "search per method: R@1/5/10, ranks, storage and query time",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("generate-demo", help="generate the demo world dataset into a folder")
    p.add_argument("out", help="output folder")
    p.add_argument("--replicates", type=int, default=3, help="images per attribute combination")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--renderer",
        default="standard",
        choices=("standard", "independent"),
        help="the demo world's generator, or the independent renderer (a test world the demo model never saw)",
    )
    p.add_argument("--queries", type=int, default=None, help="number of CIR queries (default: 400 / 300)")
    p.set_defaults(func=cmd_generate_demo)

    p = sub.add_parser("train-demo-clip", help="train the embedded demo CLIP (resumable; --device auto|cpu|cuda)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of infocir.models.train_demo (see --help there)")
    p.set_defaults(func=cmd_train_demo)

    p = sub.add_parser(
        "train-demo-phi",
        help="train SEARLE's φ for the demo CLIP (OTI tokens, then distillation; --device auto|cpu|cuda)",
    )
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of infocir.models.train_phi (see --help there)")
    p.set_defaults(func=cmd_train_phi)

    p = sub.add_parser("evaluate-demo", help="zero-shot quality of the demo CLIP on held-out generated images")
    _common(p)
    p.add_argument("--seed", type=int, default=999, help="seed of the held-out images")
    p.add_argument(
        "--renderer",
        default="standard",
        choices=("standard", "varied", "independent"),
        help="who draws the images: the training generator (standard layout or varied) or the independent renderer",
    )
    p.set_defaults(func=cmd_evaluate_demo)

    p = sub.add_parser("explain-eval", help="faithfulness of the saliency explainers on demo-world queries")
    _common(p)
    p.add_argument("--queries", type=int, default=40, help="number of demo queries (default 40)")
    p.add_argument(
        "--explainer", dest="explainers", action="append", help="explainer to evaluate; repeatable (default: all)"
    )
    p.add_argument(
        "--random-draws",
        type=_positive_int,
        default=8,  # explain.evaluate.RANDOM_DRAWS, written out so that the CLI starts without numpy
        help="random orders averaged into each image's random floor (default 8)",
    )
    p.add_argument(
        "--insertion-canvas",
        choices=("mean", "blur"),  # explain.faithfulness.INSERTION_CANVASES, written out like --random-draws
        default="mean",
        help="what insertion starts from: the mean colour, or RISE's blurred copy of the image (default mean)",
    )
    p.add_argument("--out", default="out/explain", help="folder for results.json")
    p.set_defaults(func=cmd_explain_eval)

    p = sub.add_parser(
        "segment-eval", help="referring segmentation ([segmentation]) against the demo world's object masks (IoU)"
    )
    _common(p, method_flag=False)
    p.add_argument("--images", type=int, default=200, help="number of demo images, a seeded sample (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the 2×2 grids' distractors")
    p.add_argument("--no-grid", action="store_true", help="skip the 2×2 grids (referred object among distractors)")
    p.add_argument("--out", default="out/segmentation", help="folder for results.json")
    p.set_defaults(func=cmd_segment_eval)
    return ap


# --------------------------------------------------------------------------- commands
def cmd_build_index(cfg: AppConfig, args) -> int:
    from infocir.engine import RetrievalEngine

    builder = None
    if args.distributed == "ray":
        from infocir.index.distributed import RayIndexBuilder, import_ray

        import_ray()  # a missing extra is reported before the model loads and the folder is scanned
        builder = RayIndexBuilder(cfg.model, address=args.address, workers=args.ray_workers).build
    elif args.address is not None or args.ray_workers is not None:
        print("error: --address and --ray-workers apply to --distributed ray.", file=sys.stderr)
        return EXIT_USAGE
    engine = RetrievalEngine.from_config(cfg, rebuild=args.rebuild, builder=builder)
    print(engine.report())  # one report: the images indexed and every file left out, by the scan or the build
    return EXIT_OK


def cmd_import_features(cfg: AppConfig, args) -> int:
    from infocir.index.importer import import_features

    summary = import_features(cfg, args.folder, path_prefix=args.path_prefix, sample=args.sample, report=args.report)
    print("\n".join(summary.lines()))
    return EXIT_OK


def cmd_search(cfg: AppConfig, args) -> int:
    from infocir.engine import RetrievalEngine, use_query_threads
    from infocir.models.encoding import open_rgb

    engine = RetrievalEngine.from_config(cfg)
    use_query_threads(cfg)
    reference = args.reference
    if reference and reference not in engine.index.row_of:
        if os.path.isfile(reference):
            reference = open_rgb(reference)
        else:
            print(f"error: --reference {reference!r} is neither a dataset id nor an image file.", file=sys.stderr)
            print(f"  e.g. a dataset id: {engine.index.ids[0]}", file=sys.stderr)
            return EXIT_USAGE
    marks = {key: ids for key, ids in (("relevant", args.relevant), ("nonrelevant", args.nonrelevant)) if ids}
    unknown = [i for ids in marks.values() for i in ids if i not in engine.index.row_of]
    if unknown:
        print(f"error: not dataset ids: {', '.join(unknown)} (e.g. {engine.index.ids[0]})", file=sys.stderr)
        return EXIT_USAGE
    res = engine.search(reference, args.text, k=args.k, exclude_reference=args.exclude_reference, **marks)
    print(f"method={res.method}  reference={args.reference}  text={args.text!r}  ({res.elapsed_ms:.1f} ms)")
    print(f"{'rank':>4}  {'score':>7}  {'class':<14} id")
    for row in res.table():
        print(f"{row['rank']:>4}  {row['score']:>7.4f}  {row['class']:<14} {row['id']}")
    return EXIT_OK


def cmd_evaluate(cfg: AppConfig, args) -> int:
    from pathlib import Path

    from infocir.engine import RetrievalEngine
    from infocir.evaluation.benchmarks import load_benchmark
    from infocir.evaluation.harness import evaluate, format_table, write_results

    engine = RetrievalEngine.from_config(cfg)
    bench = load_benchmark(args.benchmark, engine, args.benchmark_path)
    if args.limit:
        bench.queries = bench.queries[: args.limit]
    methods = args.methods or _default_methods(engine, bench.name)
    unavailable = {m.name: m.reason for m in engine.methods() if not m.available}
    for m in methods:
        if m in unavailable:
            print(f"error: method {m!r} is unavailable: {unavailable[m]}", file=sys.stderr)
            return EXIT_USAGE
    setup = None
    if args.feedback_iterations:
        from infocir.evaluation.feedback_iterations import PseudoFeedback

        setup = PseudoFeedback(  # checked before the long evaluation starts
            iterations=args.feedback_iterations,
            positives=args.top_positive,
            negatives=args.bottom_negative,
            breaking_rank=args.breaking_rank,
        )
    expand = args.expansion or cfg.retrieval.expansion
    # with expansion compared, the plain rows are explicitly without it (the configured switch must not leak into them)
    results = evaluate(engine, bench, methods, **({"expansion": False} if expand else {}))
    meta_expansion = _expansion_rows(engine, bench, methods, results) if expand else None
    print(f"{bench.name}: {len(bench.queries)} queries, model {engine.bundle.name}, {len(engine.index)} images")
    print(format_table(results, bench.columns()))
    meta = {
        "benchmark": bench.name,
        "model": engine.bundle.name,
        "weights": engine.bundle.weights_hash,
        "images": len(engine.index),
    }
    if meta_expansion is not None:
        meta["expansion"] = meta_expansion
    if args.rank_table:
        meta["rank_table"] = _rank_table(engine, bench, methods)
    if args.hashing:
        meta["hashing"] = _hashing_tables(engine, bench, methods)
    if setup is not None:
        meta["feedback_iterations"] = _feedback_tables(engine, bench, methods, setup)
    write_results(results, Path(args.out), meta)
    print(f"wrote {args.out}/results.json and results.csv")
    return EXIT_OK


def _default_methods(engine, benchmark: str) -> list[str]:
    """Every available fast method; for the captions benchmark (text queries, no reference) those that need none."""
    from infocir.methods.registry import METHODS

    names = [m.name for m in engine.methods() if m.available and not m.slow]
    return [n for n in names if not METHODS.lookup(n).needs_reference] if benchmark == "captions" else names


def _expansion_rows(engine, bench, methods: list[str], results: dict) -> dict:
    """Add a 'METHOD +expansion' row per vector method to ``results``; the expansion's captions: the ones the
    captions benchmark held out of its queries, else the dataset's captions file.  Returns what the JSON records."""
    from infocir.evaluation.harness import evaluate_method
    from infocir.index.expansion import CollectionExpansion, collection_for
    from infocir.methods.registry import METHODS

    held_out = getattr(bench, "collection", None)
    collection = CollectionExpansion.from_captions(engine, held_out) if held_out is not None else collection_for(engine)
    skipped = [m for m in methods if not METHODS.lookup(m).composes_vector()]
    for m in methods:
        if m not in skipped:
            results[f"{m} +expansion"] = evaluate_method(engine, bench, m, expansion=collection)
    if skipped:
        print(f"(no expansion rows for {', '.join(skipped)}: expansion needs one query vector, which these fuse)")
    return {"captions": len(collection), "images": len(collection.rows), "held_out": held_out is not None}


def _rank_table(engine, bench, methods: list[str]) -> dict:
    """R@1/5/10 and the median and mean rank of the best target per method (printed; returned for the JSON)."""
    from infocir.evaluation.harness import query_results
    from infocir.evaluation.rank_table import format_rank_table, rank_summary

    def firsts(m: str) -> list[int | None]:
        return [
            None if r["first_target_rank"] is None else int(r["first_target_rank"])
            for r in query_results(engine, bench, m)
        ]

    rows = {m: rank_summary(firsts(m)) for m in methods}
    print(format_rank_table(rows))
    return rows


def _hashing_tables(engine, bench, methods: list[str]) -> dict:
    """Semantic hashing against float search for each method that composes one query vector."""
    from infocir.errors import UserError
    from infocir.evaluation.hashing_eval import hashing_table
    from infocir.evaluation.rank_table import format_rank_table

    extra = ("bytes/image", "storage ×", "ms/query", "time ×")
    tables, skipped = {}, []
    for m in methods:
        try:
            tables[m] = hashing_table(engine, bench, m, rerank=engine.config.hashing.rerank or 1000)
        except UserError:
            skipped.append(m)
            continue
        print(f"Semantic hashing, {m} ({len(bench.queries)} queries, {len(engine.index)} images):")
        print(format_rank_table(tables[m], extra, first="search"))
    if skipped:
        print(f"(no hashing table for {', '.join(skipped)}: hashing searches one query vector)")
    return tables


def _feedback_tables(engine, bench, methods: list[str], setup) -> dict:
    """The pseudo-feedback table of every method that composes one query vector (printed; returned for the JSON)."""
    from dataclasses import asdict

    from infocir.evaluation.feedback_iterations import NoQueryVector, feedback_iterations, format_iterations

    tables, skipped = {}, []
    for m in methods:
        if m == "feedback":
            skipped.append(m)  # it is what the iterations run, on top of each method
            continue
        try:
            tables[m] = feedback_iterations(engine, bench, m, setup)
        except NoQueryVector:  # a method that fuses scores has no query vector to move
            skipped.append(m)
    print(format_iterations(tables, setup))
    if skipped:
        print(f"(no iterations for {', '.join(skipped)}: feedback moves one query vector, which these do not compose)")
    return {"setup": asdict(setup), "tables": tables}


def cmd_bench(cfg: AppConfig | None, args) -> int:
    """``python -m benchmarks`` from the checkout this package is installed from (the scripts are not part of
    the installed package: they measure it)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    if not (root / "benchmarks" / "__main__.py").is_file():
        print(
            "error: the benchmark scripts live in the source checkout (benchmarks/), which this installation "
            "was not made from; clone the repository and run 'python -m benchmarks' there",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    return subprocess.call([sys.executable, "-m", "benchmarks", *args.bench_args], cwd=root)


def cmd_methods(cfg: AppConfig, args) -> int:
    from infocir.engine import RetrievalEngine

    engine = RetrievalEngine.from_config(cfg)
    for info in engine.methods():
        state = "available" if info.available else f"unavailable: {info.reason}"
        print(f"{info.name:<12} {info.label:<28} {state}")
    return EXIT_OK


def cmd_serve(cfg: AppConfig, args) -> int:
    from infocir.ui.app import serve

    return serve(cfg)


def cmd_generate_demo(_cfg, args) -> int:
    from dataclasses import replace

    if args.renderer == "independent":
        from infocir.data.independent_world import IndependentWorldSpec as Spec
        from infocir.data.independent_world import generate_dataset
    else:
        from infocir.data.demo_world import DemoWorldSpec as Spec  # type: ignore[assignment]
        from infocir.data.demo_world import generate_dataset  # type: ignore[assignment]

    spec = replace(Spec(), seed=args.seed, replicates=args.replicates)
    if args.queries is not None:
        spec = replace(spec, n_queries=args.queries)
    root = generate_dataset(args.out, spec)
    print(f"Demo world ({args.renderer} renderer) written to {root}")
    return EXIT_OK


def cmd_train_demo(_cfg, args) -> int:
    from infocir.models.train_demo import main as train_main

    return train_main(args.rest)


def cmd_train_phi(_cfg, args) -> int:
    from infocir.models.train_phi import main as phi_main

    return phi_main(args.rest)


def cmd_evaluate_demo(cfg: AppConfig, args) -> int:
    from infocir.engine import bundle_for
    from infocir.models.demo_eval import heldout_report

    report = heldout_report(bundle_for(cfg), seed=args.seed, renderer=args.renderer)
    print(
        f"Demo CLIP {cfg.model.name} on {report.n_images} held-out images (renderer {args.renderer}, seed {args.seed}):"
    )
    for k, v in report.figures.items():
        print(f"  {k:<28} {100 * v:6.1f} %")
    print("Zero-shot shape, where it fails:")
    print(f"  {'by drawn shape':<28} {_percents(report.shapes.by_shape)}")
    for size, by_style in report.shapes.by_style.items():
        print(f"  {'by style, ' + size + ' objects':<28} {_percents(by_style)}")
    mistakes = ", ".join(f"{drawn} → {called} {n}" for drawn, called, n in report.shapes.mistakes) or "none"
    print(f"  {'commonest mistakes':<28} {mistakes}  (drawn → called, images)")
    return EXIT_OK


def _percents(rates: dict[str, float]) -> str:
    return " · ".join(f"{name} {100 * r:.0f} %" for name, r in rates.items())


def cmd_explain_eval(cfg: AppConfig, args) -> int:
    import json
    from pathlib import Path

    from infocir.data.demo_world import read_masks, read_queries
    from infocir.engine import RetrievalEngine
    from infocir.explain.evaluate import IMAGE_EXPLAINERS, cells_beating_random, explain_eval

    engine = RetrievalEngine.from_config(cfg)
    root = engine.scan.root
    if not (root / "queries.json").is_file():
        print(
            f"error: {root} is not a demo world (no queries.json); "
            "explain-eval needs the generator's queries and masks.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    queries = read_queries(root)[: args.queries]
    res = explain_eval(
        engine,
        queries,
        read_masks(root),
        cfg.retrieval.method,
        tuple(args.explainers or IMAGE_EXPLAINERS),
        progress=lambda i, n: print(f"\r  {i}/{n} queries", end="", file=sys.stderr, flush=True),
        random_draws=args.random_draws,
        insertion_canvas=args.insertion_canvas,
    )
    print(file=sys.stderr)
    print(
        f"{len(queries)} demo queries, method {res['method']}, model {engine.bundle.name} "
        f"(2 maps per query: the reference and the top-1 result, target = the composed query; "
        f"insertion canvas: {res['insertion_canvas']})"
    )
    print(
        f"{'explainer':<21} {'deletion AUC ↓':>15} {'insertion AUC ↑':>16} {'mass/area':>10} {'s/map':>8} "
        f"{'empty maps':>11}"
    )
    for name, r in res["image"].items():
        print(
            f"{name:<21} {r['deletion_auc']:>15.4f} {r['insertion_auc']:>16.4f} {r['mass_ratio_median']:>10.2f} "
            f"{r['seconds_per_map']:>8.3f} {r['empty_maps']:>5}/{r['maps']:<5}"
        )
    by_type = res["by_query_type"]
    paired = "random" in by_type
    print(
        "by query type (reference | top-1): mass/area, deletion AUC ↓, insertion AUC ↑"
        + (f"; maps beating their own random floor ({args.random_draws} draws), deletion / insertion" if paired else "")
    )
    for name, by_attr in by_type.items():
        for attr, roles in by_attr.items():
            cells = [
                f"{r['mass_ratio_median']:5.2f} {r['deletion_auc']:.3f} {r['insertion_auc']:.3f}"
                + (
                    f" {r['deletion_beats_random']}/{r['maps']} {r['insertion_beats_random']}/{r['maps']}"
                    if paired and name != "random"
                    else ""
                )
                for r in (roles.get("reference"), roles.get("top1"))
                if r
            ]
            print(f"  {name:<21} {attr:<11} " + " | ".join(cells))
    if paired:
        print("query type × role cells whose mean beats random's, deletion / insertion:")
        for name in by_type:
            if name != "random":
                d, i, n = cells_beating_random(by_type, name)
                print(f"  {name:<21} {d}/{n}  {i}/{n}")
    signed = {
        name: by_attr
        for name, by_attr in by_type.items()
        if any("object_against" in cell for roles in by_attr.values() for cell in roles.values())
    }
    if signed:
        print(
            "maps whose object lowers the score (its map before the ReLU averages < 0 there), in brackets those "
            "whose evidence lowers it by more than half (panel F's caption, no mask), then the mass/area of the "
            "signed map's magnitude |s| (evidence of either sign on the object), reference | top-1:"
        )
        for name, by_attr in signed.items():
            for attr, roles in by_attr.items():
                cells = [
                    f"{r['object_against']}/{r['maps']} ({r.get('mostly_against', 0)}) "
                    f"{r['abs_mass_ratio_median']:5.2f}"
                    for r in (roles.get("reference"), roles.get("top1"))
                    if r
                ]
                print(f"  {name:<21} {attr:<11} " + " | ".join(cells))
    print("token attribution vs exact word occlusion:")
    for name, r in res["tokens"].items():
        print(
            f"  {name:<21} Spearman {r['spearman_vs_occlusion']:+.3f}  "
            f"top word agrees {100 * r['top_word_agreement']:.0f} %"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(f"wrote {out}/results.json")
    return EXIT_OK


def cmd_segment_eval(cfg: AppConfig, args) -> int:
    import json
    from pathlib import Path

    from infocir.engine import RetrievalEngine
    from infocir.evaluation.segmentation_eval import segmentation_eval

    engine = RetrievalEngine.from_config(cfg)
    root = engine.scan.root
    if not (root / "masks.npz").is_file() or not (root / "attributes.csv").is_file():
        print(
            f"error: {root} is not a demo world (no masks.npz / attributes.csv); "
            "segment-eval needs the generator's object masks.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    res = segmentation_eval(
        engine,
        args.images,
        args.seed,
        grid=not args.no_grid,
        progress=lambda i, n: print(f"\r  {i}/{n} images", end="", file=sys.stderr, flush=True),
    )
    print(file=sys.stderr)
    st = res["settings"]
    print(
        f"{res['images']} demo images (seed {res['seed']}), model {engine.bundle.name}; text = colour + shape "
        f"(\"a red star\"); saliency provider: {st['explainer']} over {st['layers'] or 'all'} block(s)"
        f"{' × rollout' if st['objectness'] else ''}, threshold {st['threshold']}, keep {st['keep']}, "
        f"min_area {st['min_area']}"
    )
    print(f"{'variant':<40} {'IoU':>6} {'IoU 2×2 grid':>13} {'s/mask':>7}")
    for name, r in res["rows"].items():
        sec = f"{r['seconds']:.3f}" if r["seconds"] == r["seconds"] else "—"
        grid = f"{r['iou_grid']:.3f}" if r["iou_grid"] == r["iou_grid"] else "—"
        print(f"{name:<40} {r['iou']:>6.3f} {grid:>13} {sec:>7}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(f"wrote {out}/results.json")
    return EXIT_OK


_NO_CONFIG = {cmd_generate_demo, cmd_train_demo, cmd_train_phi, cmd_bench}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # everything after it belongs to the suite's own parser (--full, --only, --help)
        return cmd_bench(None, argparse.Namespace(bench_args=argv[1:]))
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["serve", *argv]
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        args = parser.parse_args(["serve"])
    verbose = getattr(args, "verbose", False)
    # Third-party libraries log chatty INFO lines on the root logger; ours are what users need.
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("infocir").setLevel(logging.DEBUG if verbose else logging.INFO)
    func: Callable = args.func
    try:
        cfg = (
            None if func in _NO_CONFIG else check_plugin_names(load_config(args.config, cli_overrides=_overrides(args)))
        )
        return func(cfg, args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as exc:  # user-facing boundary: one clear line, the traceback only with -v
        from infocir.errors import is_user_error

        if is_user_error(exc):
            print(f"error: {exc}", file=sys.stderr)
            log.debug("details", exc_info=True)
            return EXIT_RUNTIME
        raise
