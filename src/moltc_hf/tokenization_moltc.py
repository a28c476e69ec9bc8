"""An offline byte-level BPE tokenizer for MolTC, trained locally with `tokenizers`.

Galactica's tokenizer is the reference, but its weights/files are not reachable offline; this builds a
small tokenizer with the same special tokens and ids (``<s>``=0, ``<pad>``=1, ``</s>``=2, like OPT) plus
``<mol>``, ``[START_I_SMILES]`` and ``[END_I_SMILES]``. Training is deterministic for a given corpus, and
the tokenizer is saved with the model, so nothing downloads at run time. Any hub tokenizer works too:
`MolTCProcessor.prepare_tokenizer` adds the missing special tokens.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from .configuration_moltc import END_SMILES, MOL_TOKEN, START_SMILES
from .tasks.templates import (
    ABSORPTION_QUESTION,
    DDI_NEGATIVE,
    DDI_POSITIVE,
    DDI_QUESTION,
    SOLVATION_QUESTION,
    solvation_target,
)

BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
SPECIAL_TOKENS = [BOS, PAD, EOS, UNK, MOL_TOKEN, START_SMILES, END_SMILES]

_PROPERTY_WORDS = (
    "The molecule has a molecular weight of 180.16 g/mol, logP of 1.31, topological polar surface area of 63.6, "
    "4 hydrogen bond acceptors and 1 hydrogen bond donors, 3 rotatable bonds, 1 rings of which 1 aromatic, "
    "formal charge 0, and it satisfies Lipinski's rule of five. It violates 2 of Lipinski's rules. "
    "#Drug1 may increase the anticoagulant activities of #Drug2. The risk or severity of adverse effects can be "
    "increased when #Drug1 is combined with #Drug2. #Drug1 can cause a decrease in the absorption of #Drug2 "
    "resulting in a reduced serum concentration and potentially a decrease in efficacy. The metabolism of #Drug2 "
    "can be decreased when combined with #Drug1. The serum concentration of #Drug2 can be increased when it is "
    "combined with #Drug1. The therapeutic efficacy of #Drug2 can be decreased when used in combination with #Drug1."
)


def default_corpus() -> list[str]:
    """Template text + numbers: enough for a tiny model to write every MolTC answer compactly."""
    numbers = [solvation_target(v / 4) for v in range(-80, 24)]
    return [
        DDI_QUESTION,
        SOLVATION_QUESTION,
        ABSORPTION_QUESTION,
        DDI_POSITIVE,
        DDI_NEGATIVE,
        _PROPERTY_WORDS,
        *numbers,
    ]


def build_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``corpus`` (default: the MolTC templates) and wrap it for transformers.

    ``vocab_size`` includes the 256 byte symbols and the special tokens; size the LM from ``len(tokenizer)``.
    """
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(corpus if corpus is not None else default_corpus()), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[MOL_TOKEN, START_SMILES, END_SMILES],
        clean_up_tokenization_spaces=False,
    )


__all__ = ["SPECIAL_TOKENS", "build_tokenizer", "default_corpus"]
