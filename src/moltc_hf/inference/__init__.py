"""Inference: pairs in, answers out, for `moltc predict`, `moltc evaluate`, the pipeline and the demo.

The flow is one direction: `scoring` calls the model (candidate log-likelihoods, generation), `predict` batches
pairs through it (the molecule-feature cache, the symmetric readout, loading a model for inference) and turns
its output into `Prediction`s, `parsing` reads a generated answer back into a label or a number, `screening`
streams a pair file through `predict` in parts that resume. It may not import `moltc_hf.training` (nor the
reverse): the layers are in docs/architecture.md.
"""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "predict": ("MODES", "MoleculeFeatureCache", "Prediction", "iter_predictions", "predict_batch"),
        "parsing": ("ParsedAnswer", "parse_classification_answer", "parse_regression_answer"),
        "scoring": ("generate_answers", "score_candidates"),
        "screening": ("screen_file",),
    },
)
