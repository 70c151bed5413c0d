"""``explain-eval``: faithfulness of the image explainers (deletion / insertion AUC), their mass on
the object (demo world masks), and how the token attributions agree with exact word occlusion."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from infocir.explain.base import create_explainer, similarity_target
from infocir.explain.faithfulness import Curves, deletion_insertion, mask_mass, object_contribution
from infocir.explain.image import MOSTLY_AGAINST, against_share, align_to_image, is_empty
from infocir.explain.service import text_prompt
from infocir.explain.text_attribution import TOKEN_METHODS

IMAGE_EXPLAINERS = ("grad_eclip", "grad_eclip_magnitude", "gradient_input", "rollout", "random")
RANDOM_DRAWS = 8  # random orders averaged into each image's random floor (explain-eval's default)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation with tied values ranked together (nan for a constant or one-word input)."""
    import warnings

    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a, b).statistic)


def explain_eval(
    engine,
    queries: list[dict],
    masks: dict[str, np.ndarray] | None = None,
    method: str = "searle",
    explainers: tuple[str, ...] = IMAGE_EXPLAINERS,
    progress: Callable[[int, int], None] | None = None,
    random_draws: int = RANDOM_DRAWS,
    insertion_canvas: str = "mean",
) -> dict:
    """Evaluate the explainers on demo-world style queries (reference id, text, attribute).

    For each query the reference and the top-1 result are explained for their similarity to the
    composed query.  Returns per explainer: mean deletion / insertion AUC, the median ratio of
    saliency mass on the object to the object's area share (shape and colour queries), and seconds
    per map; plus token-attribution agreement with occlusion, every map's figures (``maps``) and,
    per query type and role, on how many maps each explainer beats the random floor of the same image.

    The random floor of an image is the mean of ``random_draws`` random orders' curves (the first
    draw's map gives its mass and timing): one draw is a noisy estimate of what chance achieves,
    and with 8 maps per query type that noise decides "better than random"."""
    if random_draws < 1:
        raise ValueError(f"random_draws must be ≥ 1, got {random_draws}")
    from infocir.explain.text_attribution import text_attribution
    from infocir.models.encoding import open_rgb

    b = engine.bundle
    rows: dict[str, dict[str, list[float]]] = {
        name: {"deletion": [], "insertion": [], "mass_ratio": [], "seconds": [], "empty": []} for name in explainers
    }
    # Every map's figures (query, attribute, role, image, then one entry per explainer): the breakdown
    # reads them, and explainers compare map by map because each row is one image.
    map_rows: list[dict] = []
    tokens: dict[str, dict[str, list[float]]] = {
        m: {"spearman": [], "top_word": []} for m in TOKEN_METHODS if m != "occlusion"
    }
    for qi, q in enumerate(queries):
        res = engine.search(q["reference_id"], q["text"], k=1, method=method)
        if res.query_vector is None:
            continue
        target = similarity_target(res.query_vector, b)
        for role, image_id in (("reference", q["reference_id"]), ("top1", res.ids[0])):
            image = open_rgb(engine.scan.root / image_id)
            pixels = b.pixels([image])
            map_rows.append({"query": qi, "attribute": str(q.get("attribute", "")), "role": role, "image": image_id})
            for name in explainers:
                # a seed per map (not per query): the reference and the top-1 get different random orders
                ex = create_explainer(name, seed=len(map_rows) - 1) if name == "random" else create_explainer(name)
                t0 = time.perf_counter()
                grid, signed_grid = ex.maps(b.model, pixels, target)  # one pass gives both (Grad-ECLIP)
                rows[name]["seconds"].append(time.perf_counter() - t0)
                rows[name]["empty"].append(float(is_empty(grid)))
                curves = deletion_insertion(b, pixels, target, grid, canvas=insertion_canvas)
                if name == "random" and random_draws > 1:
                    draws = [curves] + [
                        deletion_insertion(b, pixels, target, ex.grid(b.model, pixels, target), canvas=insertion_canvas)
                        for _ in range(random_draws - 1)
                    ]
                    curves = Curves(np.mean([c.deletion for c in draws], 0), np.mean([c.insertion for c in draws], 0))
                rows[name]["deletion"].append(curves.deletion_auc)
                rows[name]["insertion"].append(curves.insertion_auc)
                ratio = float("nan")
                # the share of a signed map's evidence that lowers the score: panel F's caption, no mask needed
                figures: dict[str, float] = {} if signed_grid is None else {"against_share": against_share(signed_grid)}
                if masks is not None and image_id in masks:
                    aligned = align_to_image(grid, image.size, b.preprocess_kind, target_ratio=b.targetpad_ratio)
                    frac, area = mask_mass(aligned, masks[image_id])
                    ratio = frac / area if area > 0 else float("nan")
                    if q.get("attribute") in ("shape", "colour"):
                        rows[name]["mass_ratio"].append(ratio)
                    if signed_grid is not None:
                        signed = align_to_image(
                            signed_grid,
                            image.size,
                            b.preprocess_kind,
                            target_ratio=b.targetpad_ratio,
                        )
                        figures |= object_contribution(signed, masks[image_id])
                map_rows[-1][name] = {
                    "mass_ratio": ratio,
                    "deletion_auc": curves.deletion_auc,
                    "insertion_auc": curves.insertion_auc,
                    **figures,
                }
        prompt, pseudo, n_template = text_prompt(engine, method, q["reference_id"], q["text"])
        text_target = similarity_target(engine.index.row(res.rows[0]), b)
        exact = np.array(
            text_attribution(b, prompt, text_target, pseudo, n_template=n_template, method="occlusion").scores
        )
        for m in tokens:
            s = np.array(text_attribution(b, prompt, text_target, pseudo, n_template=n_template, method=m).scores)
            tokens[m]["spearman"].append(_spearman(s, exact))
            tokens[m]["top_word"].append(float(np.argmax(s) == np.argmax(exact)))
        if progress:
            progress(qi + 1, len(queries))
    table = {
        name: {
            "deletion_auc": float(np.mean(r["deletion"])) if r["deletion"] else float("nan"),
            "insertion_auc": float(np.mean(r["insertion"])) if r["insertion"] else float("nan"),
            "mass_ratio_median": float(np.nanmedian(r["mass_ratio"])) if r["mass_ratio"] else float("nan"),
            "seconds_per_map": float(np.mean(r["seconds"])) if r["seconds"] else float("nan"),
            "maps": len(r["deletion"]),
            # maps with no positive value: left out of the mass median (their mass share is undefined)
            "empty_maps": int(sum(r["empty"])),
        }
        for name, r in rows.items()
    }
    token_table = {
        m: {
            "spearman_vs_occlusion": float(np.nanmean(v["spearman"])),
            "top_word_agreement": float(np.mean(v["top_word"])),
        }
        for m, v in tokens.items()
    }
    return {
        "image": table,
        "by_query_type": _breakdown(map_rows, explainers),
        "tokens": token_table,
        "queries": len(queries),
        "method": method,
        "random_draws": random_draws,
        "insertion_canvas": insertion_canvas,
        "maps": map_rows,
    }


def _breakdown(map_rows: list[dict], explainers: tuple[str, ...]) -> dict:
    """explainer → query attribute → role (reference / top1) → median mass/area, mean AUCs, maps and
    (with the random map evaluated) on how many of those maps the explainer beats the random floor."""
    groups: dict[tuple[str, str], list[dict]] = {}  # (attribute, role) → its maps, in the table's order
    for attr in sorted({r["attribute"] for r in map_rows}):
        for role in ("reference", "top1"):
            sel = [r for r in map_rows if r["attribute"] == attr and r["role"] == role]
            if sel:
                groups[attr, role] = sel
    out: dict = {}
    for name in explainers:
        by_attr: dict = {}
        for (attr, role), sel in groups.items():
            ratios = [r[name]["mass_ratio"] for r in sel if not np.isnan(r[name]["mass_ratio"])]
            cell = {
                "mass_ratio_median": float(np.median(ratios)) if ratios else float("nan"),
                "deletion_auc": float(np.mean([r[name]["deletion_auc"] for r in sel])),
                "insertion_auc": float(np.mean([r[name]["insertion_auc"] for r in sel])),
                "maps": len(sel),
            }
            signs = [r[name]["object_contribution"] for r in sel if "object_contribution" in r[name]]
            if signs:  # an explainer with a signed map: on how many maps the object reads against the target
                cell["object_against"] = int(sum(v < 0 for v in signs))
                magnitudes = [r[name]["abs_mass_ratio"] for r in sel if not np.isnan(r[name]["abs_mass_ratio"])]
                cell["abs_mass_ratio_median"] = float(np.median(magnitudes)) if magnitudes else float("nan")
            shares = [r[name]["against_share"] for r in sel if "against_share" in r[name]]
            if shares:  # … and on how many panel F says most of the evidence lowers the score (no mask)
                cell["mostly_against"] = int(sum(v > MOSTLY_AGAINST for v in shares))
            if "random" in explainers and name != "random":
                # paired: the same image's random floor (lower deletion, higher insertion wins)
                cell["deletion_beats_random"] = int(
                    sum(r[name]["deletion_auc"] < r["random"]["deletion_auc"] for r in sel)
                )
                cell["insertion_beats_random"] = int(
                    sum(r[name]["insertion_auc"] > r["random"]["insertion_auc"] for r in sel)
                )
            by_attr.setdefault(attr, {})[role] = cell
        out[name] = by_attr
    return out


def cells_beating_random(by_query_type: dict, name: str) -> tuple[int, int, int]:
    """(cells whose mean deletion AUC is below random's, cells whose mean insertion AUC is above it,
    cells) for explainer ``name``: a cell is one query type × role (reference / top-1)."""
    rnd = by_query_type["random"]
    cells = [(attr, role) for attr, roles in by_query_type[name].items() for role in roles]
    dele = sum(by_query_type[name][a][r]["deletion_auc"] < rnd[a][r]["deletion_auc"] for a, r in cells)
    ins = sum(by_query_type[name][a][r]["insertion_auc"] > rnd[a][r]["insertion_auc"] for a, r in cells)
    return int(dele), int(ins), len(cells)
