"""Explanations (panel F): image saliency (Grad-ECLIP and comparison explainers), token
attribution of the text, the rank-Δ table, and their faithfulness evaluation.

    from infocir.explain.service import ExplanationService
    maps = ExplanationService(engine)
    s = maps.saliency(result.query_vector, "grad_eclip", image_id=result.ids[0])
"""
