"""Reference models that every MolTC number is read against: mean, descriptor ridge/RF, drug prior, Morgan LR.

A language model that "predicts" FreeSolv is only interesting if it beats a mean predictor, and only
competitive if it approaches a random forest on RDKit descriptors. Binary DDI sets are worse: their negatives
are sampled so unevenly that a *drug prior* -- each drug's positive rate in train, no chemistry at all --
reaches AUROC ~0.99 on a random split and ~0.5 when the test drugs are unseen. This package makes those
references one line each, on exactly the rows (and split) the model sees. It is the one place for them:
evaluation asks it for references (``evaluate_model`` imports `priors`), and it never imports evaluation
beyond the leaf `moltc_hf.tasks.metrics`, so data flows one way.

Every baseline takes *rows* with the MoT-instructions columns ``smiles_a``, ``smiles_b`` and ``label``:
a pandas DataFrame, a `datasets.Dataset`, or a list of dicts (`frames.rows_to_frame`). ``fit(train_rows)``
returns ``self``; regressors have ``predict(rows) -> np.ndarray`` and classifiers
``predict_proba(rows) -> np.ndarray`` (probability of the positive class, shape ``[n]``).

Modules: `frames` (rows -> DataFrame), `descriptors` (mean, RDKit-descriptor ridge/RF), `fingerprints`
(Morgan pair LR), `priors` (drug priors and the references `evaluate_model` reports), `chemprop` (optional
chemprop v2), `references` (`run_baselines` and its result rows).

The names below are loaded on first access (`moltc_hf._lazy`): `evaluate_model` needs only `priors` and
`frames`, and importing the scikit-learn models eagerly from here would add seconds to its import.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "chemprop": ("ChempropPair", "chemprop_available"),
        "descriptors": ("DescriptorFeaturizer", "DescriptorRegressor", "MeanRegressor"),
        "fingerprints": ("MorganPairLogistic",),
        "frames": ("rows_to_frame",),
        "priors": ("DrugPrior", "drug_prior_reference", "drug_type_prior_reference"),
        "references": (
            "BINARY_BASELINES REGRESSION_BASELINES BaselineResult binary_metrics format_metrics run_baselines"
        ),
    },
)
