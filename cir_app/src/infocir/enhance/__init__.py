"""Prompt enhancement (panel E): generate rewrites of the modification text, re-run them, score them.

    from infocir.enhance import enhance
    result = enhance(engine, "star/star_00042.png", "change it", ideals=["star/star_00107.png"], k=10)
    result.order, result.rows[result.order[0]].text, result.to_dict()

Providers are looked up by name (``list_providers``): ``gemini``, ``openai`` (any OpenAI-compatible
server) and ``offline`` (the default when no key is set).  The engine never needs the network; an LLM
provider that fails raises :class:`EnhancementError`, whose message the panel shows while the original
query stays as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from infocir.enhance.base import KEPT, EnhancementError, Provider, VisualContext, VocabWord
from infocir.enhance.benchmark import VagueQuery, evaluate_offline, vague_query_benchmark
from infocir.enhance.context import build_context
from infocir.enhance.prompting import build_prompt, parse_candidates
from infocir.enhance.registry import ProviderInfo, create_provider, list_providers, resolve_provider
from infocir.enhance.scoring import RANKING_RULE, EnhancementResult, Progress, PromptRow, score_prompts

if TYPE_CHECKING:
    from infocir.engine import Reference, RetrievalEngine

log = logging.getLogger(__name__)

__all__ = [
    "EnhancementError",
    "EnhancementResult",
    "PromptRow",
    "Provider",
    "ProviderInfo",
    "RANKING_RULE",
    "VagueQuery",
    "VisualContext",
    "VocabWord",
    "build_context",
    "build_prompt",
    "create_provider",
    "enhance",
    "evaluate_offline",
    "list_providers",
    "parse_candidates",
    "resolve_provider",
    "score_prompts",
    "vague_query_benchmark",
]


def enhance(
    engine: RetrievalEngine,
    reference: Reference,
    text: str,
    ideals: Sequence[str],
    k: int | None = None,
    method: str | None = None,
    provider: str | Provider | None = None,
    progress: Progress | None = None,
    exclude_reference: bool = False,
    method_params: dict | None = None,
) -> EnhancementResult:
    """Build the context, generate ``enhancement.candidate_prompts`` candidates with the provider
    (``provider`` or the configured one; "auto" resolves by keys), then score them and the original
    (ranked with ``method`` and its ``method_params``, as the page's results were).

    Raises EnhancementError (the message is for the user; the original query is kept) when the
    provider fails or produces nothing usable.
    """
    t0 = time.perf_counter()
    cfg = engine.config
    chosen = provider if isinstance(provider, Provider) else resolve_provider(cfg, provider)
    context = build_context(engine, reference, text, ideals)
    n = cfg.enhancement.candidate_prompts
    candidates = chosen.generate(context, n, cfg)
    if not candidates:
        raise EnhancementError(
            f"{chosen.label} found no rewrite that sets the ideals apart from the reference; {KEPT}. "
            "Mark ideal images that differ from the reference."
        )
    log.info("%s produced %d candidates for %r", chosen.name, len(candidates), text)
    result = score_prompts(
        engine, reference, text, candidates, ideals, k, method, progress, exclude_reference, method_params
    )
    result.provider = chosen.name
    result.message = f"{len(result.rows) - 1} candidates from {chosen.label}."  # the rule is shown under the table
    result.context = context.to_dict()
    result.elapsed_s = time.perf_counter() - t0
    return result
