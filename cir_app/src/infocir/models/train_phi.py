"""Train SEARLE's φ for the demo CLIP, the SEARLE way (CPU, resumable).

1. OTI pseudo-tokens v* for generated training images (not the shipped dataset), with the
   phrase regulariser built on each image's attribute words: "a photo of $ that S" should
   encode like "a photo of <its description> that S", S a modification phrase.
2. φ distilled from them: loss = (1 − cos(φ(v), v*)) + λ·regulariser(φ(v)).
3. Saved as ``{"Phi": state_dict}`` (float16) — the public SEARLE format — plus a manifest
   with the demo-world CIR figures of image-only, text-only, average and SEARLE.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from infocir.data import demo_world as W
from infocir.models.encoders import ASSET_DIR, load_clip
from infocir.models.textual_inversion import Phi, oti, pseudo_token_id, regulariser_loss, regulariser_targets, save_phi
from infocir.models.train_demo import STUDENT, _attrs_of, _normalize, cached_pool

log = logging.getLogger("infocir.train_phi")


@dataclass(frozen=True)
class PhiRecipe:
    seed: int = 4321
    replicates: int = 1  # 1,920 images for OTI, one per attribute combination (a fresh pool, seed 4321)
    oti_steps: int = 350
    oti_batch: int = 480
    phi_steps: int = 3000
    phi_batch: int = 256
    phi_lr: float = 5e-4
    reg_weight: float = 0.5  # OTI: SEARLE's weight of the phrase regulariser
    # φ distillation: weight of the same regulariser.  2.0 (vs 0.5) made the stage-4 model's tokens
    # compose (demo mAP@10 93.4 → 94.8); for the issue-20 model 2 → 92.8, 10 → 94.2, 30 → 94.6 (README)
    phi_reg_weight: float = 30.0
    phrase_sets: int = 8
    # OTI also on this many × 1920 images of data.family_renderer (other proportions, placements,
    # rasterisation), so φ sees the image features of objects drawn unlike the shipped world (0: off).
    family_replicates: int = 1


def _suffix(attrs: W.Attributes, rng: np.random.Generator) -> str:
    """A modification phrase for the regulariser: change one random attribute of the image."""
    a = W.ATTRIBUTES[int(rng.integers(5))]
    new = [v for v in W.VALUES[a] if v != getattr(attrs, a)][int(rng.integers(len(W.VALUES[a]) - 1))]
    return W.modification_text(attrs, a, new, rng)


def train_phi(workdir: Path, recipe: PhiRecipe = PhiRecipe(), out_dir: Path = ASSET_DIR, device: str = "auto") -> Path:
    """Run (or resume) the φ recipe on ``device`` in float32; write ``{"Phi": ...}`` and its manifest."""
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    workdir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{STUDENT}.pt"
    bundle = load_clip(STUDENT, str(weights), preprocess="clip", device=device, precision="fp32")
    model, tok = bundle.model, bundle.tokenizer
    for p in model.parameters():
        p.requires_grad_(False)
    images, attrs = cached_pool(workdir, "phi", recipe.seed, recipe.replicates, bundle.image_size)
    if recipe.family_replicates:
        f_images, f_attrs = cached_pool(
            workdir, "phi", recipe.seed, recipe.family_replicates, bundle.image_size, "family"
        )
        images, attrs = torch.cat([images, f_images]), torch.cat([attrs, f_attrs])
    attrs_l = [_attrs_of(r) for r in attrs.tolist()]
    concepts = [W.describe(a) for a in attrs_l]
    with torch.no_grad():
        feats = torch.cat(
            [model.encode_image(_normalize(bundle, images[i : i + 256])) for i in range(0, len(images), 256)]
        )
    token_id = pseudo_token_id(tok)

    # 1. OTI pseudo-tokens, batch by batch (each batch file is a checkpoint).
    t0 = time.time()
    oti_seconds = 0.0  # summed over batches, including batches computed by an earlier (resumed) run
    tokens = []
    for bi, start in enumerate(range(0, len(images), recipe.oti_batch)):
        path = workdir / f"oti_{bi:03d}.pt"
        if path.exists():
            saved = torch.load(path, map_location=bundle.device)
            tokens.append(saved["tokens"])
            oti_seconds += saved["seconds"]
            continue
        t_batch = time.time()
        sl = slice(start, start + recipe.oti_batch)
        rng = np.random.default_rng([recipe.seed, bi])
        # A few fixed phrase sets per batch, cycled through the steps (targets encoded once).
        targets = [
            regulariser_targets(bundle, concepts[sl], [_suffix(a, rng) for a in attrs_l[sl]])
            for _ in range(recipe.phrase_sets)
        ]
        tk = oti(
            bundle,
            feats[sl],
            reg_targets=targets,
            steps=recipe.oti_steps,
            reg_weight=recipe.reg_weight,
            seed=recipe.seed + bi,
        )
        oti_seconds += time.time() - t_batch
        torch.save({"tokens": tk, "seconds": time.time() - t_batch}, path)
        tokens.append(tk)
        log.info("OTI batch %d done (%d images, %.1f min)", bi, len(tk), (time.time() - t0) / 60)
    v_star = torch.cat(tokens)

    # 2. φ distillation.
    d_tok = bundle.token_dim
    torch.manual_seed(recipe.seed)
    phi = Phi(bundle.embed_dim, 4 * d_tok, d_tok)
    bundle.adopt(phi)  # moves the module in place
    opt = torch.optim.AdamW(phi.parameters(), lr=recipe.phi_lr, weight_decay=0.01)
    t1 = time.time()
    rng = np.random.default_rng(recipe.seed)
    for step in range(recipe.phi_steps):
        idx = bundle.tensor(rng.integers(len(feats), size=recipe.phi_batch))
        phi.train()
        pred = phi(feats[idx])
        distil = (1 - F.cosine_similarity(pred, v_star[idx], dim=-1)).mean()
        sub = idx[:64].tolist()  # the regulariser runs the text tower: a sub-batch keeps steps fast
        reg_targets = regulariser_targets(bundle, [concepts[i] for i in sub], [_suffix(attrs_l[i], rng) for i in sub])
        reg = regulariser_loss(model, pred[:64], reg_targets, token_id)
        loss = distil + recipe.phi_reg_weight * reg
        for g in opt.param_groups:
            g["lr"] = recipe.phi_lr * 0.5 * (1 + np.cos(np.pi * step / recipe.phi_steps))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            log.info("phi step %d/%d distil %.4f reg %.4f", step + 1, recipe.phi_steps, distil.item(), reg.item())
    phi.eval()
    t_phi = time.time() - t1
    path = out_dir / f"{STUDENT}.searle-phi.pt"
    save_phi(phi, path)
    manifest = {
        "model": STUDENT,
        "clip_weights_sha256_prefix": bundle.weights_hash[:16],
        "format": "{'Phi': state_dict} float16 (public SEARLE checkpoint format)",
        "architecture": f"{bundle.embed_dim}→{4 * d_tok}→{4 * d_tok}→{d_tok}",
        "recipe": asdict(recipe),
        "training_minutes": {"oti": round(oti_seconds / 60, 1), "phi": round(t_phi / 60, 1)},
    }
    (out_dir / f"{STUDENT}.searle-phi.manifest.json").write_text(json.dumps(manifest, indent=1))
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train SEARLE's φ for the demo CLIP.")
    ap.add_argument("--workdir", default=os.path.expanduser("~/.cache/infocir/train-demo"))
    ap.add_argument("--out-dir", default=str(ASSET_DIR))
    ap.add_argument("--oti-steps", type=int, default=PhiRecipe.oti_steps)
    ap.add_argument("--phi-steps", type=int, default=PhiRecipe.phi_steps)
    ap.add_argument("--replicates", type=int, default=PhiRecipe.replicates)
    ap.add_argument("--phi-reg-weight", type=float, default=PhiRecipe.phi_reg_weight)
    ap.add_argument(
        "--family-replicates",
        type=int,
        default=PhiRecipe.family_replicates,
        help="OTI also on this many × 1920 family-renderer images",
    )
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    recipe = PhiRecipe(
        oti_steps=args.oti_steps,
        phi_steps=args.phi_steps,
        replicates=args.replicates,
        phi_reg_weight=args.phi_reg_weight,
        family_replicates=args.family_replicates,
    )
    train_phi(Path(args.workdir), recipe, Path(args.out_dir), device=args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
