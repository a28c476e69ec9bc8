"""Joint training data: several configs' train splits as one seeded, size-tempered mixture.

``moltc train --config drugbank,chchminer,freesolv`` trains one model on all of them. Config ``i`` with
``n_i`` train rows is drawn with probability ``p_i ∝ n_i ** (1 / T)`` (``mixture_temperature`` ``T``, as in
multilingual / multi-task LM training): ``T = 1`` keeps the sizes' proportions (a plain concatenation), larger
``T`` flattens them towards uniform, so a 600-row FreeSolv is not drowned by a 30k-row ChChMiner.
`datasets.interleave_datasets` draws the rows with the training seed; with the default ``stopping_strategy``
``all_exhausted`` every row of every config is seen at least once, the smaller configs being repeated as
their probability asks.
"""

from __future__ import annotations

from collections.abc import Sequence

from datasets import Dataset, Value, interleave_datasets

STOPPING_STRATEGIES = ("all_exhausted", "first_exhausted", "all_exhausted_without_replacement")


def split_configs(config_name: str | Sequence[str] | None) -> list[str]:
    """``"a,b"`` / ``["a", "b"]`` -> ``["a", "b"]`` (order kept, duplicates dropped)."""
    if config_name is None:
        return []
    names = config_name.split(",") if isinstance(config_name, str) else list(config_name)
    names = [name.strip() for name in names if name.strip()]
    return list(dict.fromkeys(names))


def mixture_probabilities(sizes: Sequence[int], temperature: float = 1.0) -> list[float]:
    """``p_i ∝ n_i ** (1 / temperature)``, normalised; empty configs get 0."""
    if temperature <= 0:
        raise ValueError(f"mixture_temperature must be > 0, got {temperature}")
    weights = [float(n) ** (1.0 / temperature) if n > 0 else 0.0 for n in sizes]
    total = sum(weights)
    if total <= 0:
        raise ValueError("every config of the mixture is empty")
    return [w / total for w in weights]


def mix_datasets(
    datasets: Sequence[Dataset],
    *,
    temperature: float = 1.0,
    seed: int = 0,
    stopping_strategy: str = "all_exhausted",
) -> tuple[Dataset, list[float]]:
    """One seeded training set from several (same columns), and the probabilities it was drawn with."""
    if stopping_strategy not in STOPPING_STRATEGIES:
        raise ValueError(f"stopping_strategy must be one of {STOPPING_STRATEGIES}, got {stopping_strategy!r}")
    # A hub copy types a classification label as ClassLabel, a regression one as float: one type to interleave.
    datasets = [
        d if d.features.get("label") == Value("float64") else d.cast_column("label", Value("float64"))
        for d in datasets
    ]
    probabilities = mixture_probabilities([len(d) for d in datasets], temperature)
    keep = [i for i, p in enumerate(probabilities) if p > 0]
    mixed = interleave_datasets(
        [datasets[i] for i in keep],
        probabilities=[probabilities[i] for i in keep],
        seed=seed,
        stopping_strategy=stopping_strategy,
    )
    return mixed, probabilities


__all__ = ["STOPPING_STRATEGIES", "mix_datasets", "mixture_probabilities", "split_configs"]
