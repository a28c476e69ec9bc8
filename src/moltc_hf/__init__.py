"""moltc-hf: MolTC (graph encoder + Q-Former + causal LM for molecule pairs) for the Hugging Face ecosystem.

Importing the package registers MolTC with `AutoConfig`, `AutoModel`, `AutoModelForCausalLM` and
`AutoProcessor`, so checkpoints load without ``trust_remote_code``; saved checkpoints also carry the code
(``auto_map``) for processes that never import this package.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoProcessor

from .collator import MolTCDataCollator
from .configuration_moltc import MolTCConfig, MolTCGraphConfig
from .factory import build_model
from .featurization import InvalidMoleculeError, MoleculeFeaturizer, Reject, canonical_smiles, parse_molecule
from .lora import moltc_lora_config
from .modeling_moltc import MolTCForConditionalGeneration, MolTCModel, MolTCPreTrainedModel
from .processing_moltc import MolTCProcessor
from .tokenization_moltc import build_tokenizer

__version__ = "0.1.0"

AutoConfig.register("moltc", MolTCConfig, exist_ok=True)
AutoConfig.register("moltc_graph", MolTCGraphConfig, exist_ok=True)
AutoModel.register(MolTCConfig, MolTCForConditionalGeneration, exist_ok=True)
AutoModelForCausalLM.register(MolTCConfig, MolTCForConditionalGeneration, exist_ok=True)
AutoProcessor.register(MolTCConfig, MolTCProcessor, exist_ok=True)

# Written into config.json / processor_config.json by save_pretrained, with the code files beside them.
MolTCConfig.register_for_auto_class("AutoConfig")
MolTCForConditionalGeneration.register_for_auto_class("AutoModelForCausalLM")
MolTCProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "InvalidMoleculeError",
    "MolTCConfig",
    "MolTCDataCollator",
    "MolTCForConditionalGeneration",
    "MolTCGraphConfig",
    "MolTCModel",
    "MolTCPreTrainedModel",
    "MolTCProcessor",
    "MoleculeFeaturizer",
    "Reject",
    "build_model",
    "build_tokenizer",
    "canonical_smiles",
    "moltc_lora_config",
    "parse_molecule",
]

from . import pipeline as _pipeline  # noqa: E402,F401  (registers the "molecule-pair-interaction" pipeline task)
