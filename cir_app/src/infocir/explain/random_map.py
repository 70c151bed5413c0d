"""A random saliency map: the floor every explainer must beat in the faithfulness evaluation."""

from __future__ import annotations

import numpy as np

from infocir.explain.base import ImageExplainer, Target, patch_grid, register


@register
class RandomMap(ImageExplainer):
    name = "random"
    label = "Random (baseline)"
    order = 90
    description = "Uniform random patch scores; for faithfulness comparisons only."
    needs_target = False
    in_ui = False

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def grid(self, model, pixels, target: Target) -> np.ndarray:
        return self.rng.random(patch_grid(model.visual))
