# Checkpoint file: save_pretrained copies it beside the weights (auto_map), so it may import only the other
# checkpoint files (configuration_moltc, modeling_moltc, processing_moltc, featurization), relatively.
# They own the special-token strings (configuration_moltc.MOL_TOKEN, ...); the rest of moltc_hf imports them.
"""PyTorch MolTC: GIN graph encoder -> Q-Former connector -> causal language model.

The layout follows `modeling_llava.py` in transformers 5.x (TRL's SFTTrainer calls the head-less base
model and applies the output embeddings itself, so the head must be split off):

* `MolTCModel`: ``graph_encoder`` (GIN on torch-geometric), ``mol_connector`` (query tokens + Q-Former +
  Linear per projector) and ``language_model = AutoModel.from_config(text_config)`` (no LM head).
  `get_molecule_features` -> `get_placeholder_mask` -> one ``masked_scatter`` splices the molecules in.
* `MolTCForConditionalGeneration`: ``.model`` + a ``.lm_head`` tied to the input embeddings, with the
  generation hooks that keep graphs to the prefill step and repeat them per beam.

Molecules are passed as one PyG ``Batch`` (``graphs``) in the row-major order of the ``<mol>`` runs in
``input_ids`` (pair 0 molecule A, pair 0 molecule B, pair 1 molecule A, ...), with ``mol_roles`` giving
each molecule's role (0 = molecule A, 1 = molecule B). In tied mode roles are ignored; in untied mode
each role has its own projector.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn
from transformers import AutoModel, Blip2QFormerConfig, Blip2QFormerModel, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from .configuration_moltc import MolTCConfig, MolTCGraphConfig
from .featurization import torch_geometric_quietly

with torch_geometric_quietly():
    from torch_geometric.data import Batch
    from torch_geometric.nn import MessagePassing, global_mean_pool
    from torch_geometric.utils import add_self_loops, to_dense_batch

# Called as ``hook(save_directory)`` after every `MolTCForConditionalGeneration.save_pretrained`. The pipeline
# module (which this checkpoint file may not import) adds its code and ``custom_pipelines`` here, so every saved
# folder -- `moltc train`'s ``final/``, the quickstart's, a plain ``model.save_pretrained`` -- loads with
# ``pipeline(model=folder, trust_remote_code=True)`` in a process that never imported moltc_hf.
SAVE_HOOKS: list = []


class MolTCGINLayer(MessagePassing):
    """One GIN layer of pretrain-gnns: message = neighbour + bond embedding, sum aggregation, MLP d->2d->d.

    Parameter names (``mlp``, ``edge_embedding1/2``) match the original so GraphCL / MolCA weights map 1:1.
    """

    def __init__(self, config: MolTCGraphConfig):
        super().__init__(aggr="add")
        width = config.hidden_size
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width))
        self.edge_embedding1 = nn.Embedding(config.num_bond_types, width)
        self.edge_embedding2 = nn.Embedding(config.num_bond_directions, width)
        self.self_loop_bond_type = config.self_loop_bond_type

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        edge_index, _ = add_self_loops(edge_index, num_nodes=x.size(0))
        self_loop_attr = torch.zeros(x.size(0), 2, dtype=edge_attr.dtype, device=edge_attr.device)
        self_loop_attr[:, 0] = self.self_loop_bond_type
        edge_attr = torch.cat([edge_attr, self_loop_attr], dim=0)
        edge_embeddings = self.edge_embedding1(edge_attr[:, 0]) + self.edge_embedding2(edge_attr[:, 1])
        return self.propagate(edge_index, x=x, edge_attr=edge_embeddings)

    def message(self, x_j: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        return x_j + edge_attr

    def update(self, aggr_out: torch.Tensor) -> torch.Tensor:
        return self.mlp(aggr_out)


class MolTCGraphEncoder(nn.Module):
    """GIN over a PyG batch -> padded node tokens with the mean-pooled graph vector prepended, LayerNorm'ed.

    Returns ``(tokens [num_mols, max_nodes + 1, d], mask [num_mols, max_nodes + 1])``: the Q-Former's
    keys/values, exactly as MolTC builds them.
    """

    def __init__(self, config: MolTCGraphConfig):
        super().__init__()
        self.config = config
        width = config.hidden_size
        self.x_embedding1 = nn.Embedding(config.num_atom_types, width)
        self.x_embedding2 = nn.Embedding(config.num_chirality_tags, width)
        self.gnns = nn.ModuleList(MolTCGINLayer(config) for _ in range(config.num_layers))
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(config.num_layers))
        self.dropout = nn.Dropout(config.dropout)
        self.layernorm = nn.LayerNorm(width, eps=config.layer_norm_eps)

    def forward(self, graphs: Batch, max_nodes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``max_nodes``: the largest graph's node count, when the caller knows it on the host (`host_max_nodes`):
        without it `to_dense_batch` reads it off the device, a host sync per forward."""
        hidden = self.x_embedding1(graphs.x[:, 0]) + self.x_embedding2(graphs.x[:, 1])
        layer_outputs = []
        for index, (gnn, norm) in enumerate(zip(self.gnns, self.batch_norms)):
            hidden = norm(gnn(hidden, graphs.edge_index, graphs.edge_attr))
            if index < len(self.gnns) - 1:
                hidden = torch.relu(hidden)
            hidden = self.dropout(hidden)
            layer_outputs.append(hidden)
        nodes = hidden if self.config.jk_mode == "last" else torch.stack(layer_outputs).sum(0)
        pooled = global_mean_pool(nodes, graphs.batch, size=graphs.num_graphs)
        dense, node_mask = to_dense_batch(
            nodes, graphs.batch, batch_size=graphs.num_graphs, max_num_nodes=max_nodes
        )
        tokens = torch.cat([pooled.unsqueeze(1), dense], dim=1)
        mask = torch.cat([node_mask.new_ones(node_mask.size(0), 1), node_mask], dim=1)
        # LayerNorm in fp32 as in MolTC (`ln_graph`), whatever the autocast dtype.
        with torch.autocast(device_type=tokens.device.type, enabled=False):
            tokens = nn.functional.layer_norm(
                tokens.float(),
                self.layernorm.normalized_shape,
                self.layernorm.weight.float(),
                self.layernorm.bias.float(),
                self.layernorm.eps,
            )
        return tokens, mask


class MolTCProjector(nn.Module):
    """Learned query tokens + Q-Former + Linear: graph node tokens -> ``num_query_tokens`` LLM embeddings."""

    def __init__(self, config: MolTCConfig, output_size: int):
        super().__init__()
        qformer_config = cast(Blip2QFormerConfig, config.qformer_config)  # a dict only before __post_init__
        self.query_tokens = nn.Parameter(torch.zeros(1, config.num_query_tokens, qformer_config.hidden_size))
        self.qformer = Blip2QFormerModel(qformer_config)
        self.language_projection = nn.Linear(qformer_config.hidden_size, output_size)

    def forward(self, node_tokens: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
        queries = self.query_tokens.expand(node_tokens.size(0), -1, -1)
        query_output = self.qformer(
            query_embeds=queries,
            # (the GIN's LayerNorm output is fp32; a bf16/fp16 model's Q-Former takes its own dtype)
            encoder_hidden_states=node_tokens.to(queries.dtype),
            encoder_attention_mask=node_mask.long(),
        ).last_hidden_state
        return self.language_projection(query_output.to(self.language_projection.weight.dtype))


class MolTCMoleculeConnector(nn.Module):
    """All trainable molecule->token modules in one place (PEFT `modules_to_save` wraps it whole).

    ``projectors`` holds one `MolTCProjector` when tied and one per molecule role when untied.
    """

    def __init__(self, config: MolTCConfig, output_size: int):
        super().__init__()
        self.projectors = nn.ModuleList(
            MolTCProjector(config, output_size) for _ in range(config.num_projectors)
        )

    def forward(
        self,
        node_tokens: torch.Tensor,
        node_mask: torch.Tensor,
        mol_roles: torch.Tensor | None,
        host_roles: torch.Tensor | None = None,
    ):
        """Route each molecule to its role's projector.

        The routing is planned on the host (``host_roles``: the roles as a CPU tensor, which `MolTCModel` takes from
        the collated graphs) so that a CUDA forward reads nothing back from the device: no ``nonzero`` or
        ``min``/``max`` on device tensors, whose data-dependent shapes force a ``cudaStreamSynchronize`` each. The
        pair layout of the collator (A, B, A, B, ...) takes strided slices, one projector call per role; any other
        order is gathered per role and scattered back. Without ``host_roles``, ``mol_roles`` is read once.
        """
        if len(self.projectors) == 1:
            return self.projectors[0](node_tokens, node_mask)
        if host_roles is not None:
            roles = host_roles
        elif mol_roles is not None:
            roles = mol_roles.detach().cpu()
        else:
            raise ValueError(
                "Untied projectors need `mol_roles` (0 = molecule A, 1 = molecule B) for every molecule."
            )
        num_roles = len(self.projectors)
        if roles.numel() != node_tokens.size(0):
            raise ValueError(f"`mol_roles` has {roles.numel()} entries for {node_tokens.size(0)} molecules.")
        if roles.numel() and (int(roles.min()) < 0 or int(roles.max()) >= num_roles):
            raise ValueError(f"`mol_roles` must be in [0, {num_roles - 1}], got {roles.tolist()}")
        count = roles.numel()
        if count and count % num_roles == 0 and torch.equal(roles, _interleaved_roles(count, num_roles)):
            outputs = [
                projector(node_tokens[role::num_roles], node_mask[role::num_roles])
                for role, projector in enumerate(self.projectors)
            ]
            return torch.stack(outputs, dim=1).flatten(0, 1)
        parts, positions = [], []
        for role, projector in enumerate(self.projectors):
            selected = torch.nonzero(roles == role).flatten()  # host tensor: no device sync
            if selected.numel() == 0:
                continue
            index = selected.to(node_tokens.device, non_blocking=True)
            parts.append(projector(node_tokens.index_select(0, index), node_mask.index_select(0, index)))
            positions.append(selected)
        if not parts:
            first = cast(MolTCProjector, self.projectors[0])
            return node_tokens.new_zeros(
                0, first.query_tokens.size(1), first.language_projection.out_features
            )
        inverse = torch.argsort(torch.cat(positions)).to(node_tokens.device, non_blocking=True)
        return torch.cat(parts).index_select(0, inverse)

    def untie(self, num_roles: int) -> None:
        """Replace the shared projector by ``num_roles`` copies initialised from it (paper §5)."""
        if len(self.projectors) != 1:
            raise ValueError(f"Projectors are already untied ({len(self.projectors)} of them).")
        shared = self.projectors[0]
        self.projectors = nn.ModuleList([shared] + [copy.deepcopy(shared) for _ in range(num_roles - 1)])


class MolTCPreTrainedModel(PreTrainedModel):
    config_class = MolTCConfig
    config: MolTCConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("text",)  # type: ignore[assignment]  # transformers reads any sequence
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["MolTCProjector", "MolTCGraphEncoder"]
    _skip_keys_device_placement = ["cache"]

    @property
    def is_gradient_checkpointing(self) -> bool:
        """`is_activation_checkpointing` under its transformers 4 name, without transformers 5's deprecation warning:
        PEFT and TRL still read this name on the model they wrap, so every LoRA run printed a FutureWarning."""
        return self.is_activation_checkpointing

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, MolTCProjector):
            init.normal_(module.query_tokens, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, MolTCGraphEncoder):
            # pretrain-gnns initialises the atom/bond tables with Xavier-uniform.
            init.xavier_uniform_(module.x_embedding1.weight)
            init.xavier_uniform_(module.x_embedding2.weight)
        elif isinstance(module, MolTCGINLayer):
            init.xavier_uniform_(module.edge_embedding1.weight)
            init.xavier_uniform_(module.edge_embedding2.weight)


class MolTCModel(MolTCPreTrainedModel):
    """MolTC without a language-modeling head; returns the language model's last hidden state."""

    def __init__(self, config: MolTCConfig):
        super().__init__(config)
        self.graph_encoder = MolTCGraphEncoder(cast(MolTCGraphConfig, config.graph_config))
        self.language_model = AutoModel.from_config(config.text_config)
        embedding_size = self.language_model.get_input_embeddings().embedding_dim
        self.mol_connector = MolTCMoleculeConnector(config, embedding_size)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_molecule_features(self, graphs: Batch, mol_roles: torch.Tensor | None = None) -> torch.Tensor:
        """Graphs -> ``[num_mols, num_query_tokens, embed_dim]`` soft tokens, in the order of ``graphs``.

        Everything that depends on the batch's contents (each molecule's role, the largest graph, the per-role
        GIN batches) is read from the graphs while they are still on the host, before they move to the device.
        """
        device = self.graph_encoder.x_embedding1.weight.device
        host_roles = _host_roles(graphs, mol_roles, from_graphs=self.training)
        if self.config.graph_batch_per_role and self.training and host_roles is not None and len(host_roles):
            return self._molecule_features_per_role(graphs, host_roles, device)
        max_nodes = host_max_nodes(graphs)
        node_tokens, node_mask = self.graph_encoder(graphs.to(device, non_blocking=True), max_nodes)
        return self.mol_connector(node_tokens, node_mask, mol_roles, host_roles)

    def _molecule_features_per_role(self, graphs: Batch, roles: torch.Tensor, device) -> torch.Tensor:
        """The original's training-mode batching: one GIN batch per molecule role (BatchNorm statistics per side).

        The per-role batches are cut from the host copy of the graphs (no device reads); each goes through the GIN
        and its own projector, and the results are put back in the order of ``graphs``.
        """
        host = graphs if graphs.x.device.type == "cpu" else graphs.cpu()
        parts, positions = [], []
        for role in torch.unique(roles).tolist():
            index = torch.nonzero(roles == role).flatten()
            part = Batch.from_data_list(host.index_select(index))
            node_tokens, node_mask = self.graph_encoder(
                part.to(device, non_blocking=True), host_max_nodes(part)
            )
            parts.append(self.mol_connector(node_tokens, node_mask, None, roles[index]))
            positions.append(index)
        inverse = torch.argsort(torch.cat(positions)).to(device, non_blocking=True)
        return torch.cat(parts).index_select(0, inverse)

    def get_placeholder_mask(
        self, input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor, molecule_features: torch.Tensor
    ) -> torch.Tensor:
        """Boolean mask of ``<mol>`` positions, checked against the number of molecule tokens."""
        if input_ids is None:
            mol_embedding = self.get_input_embeddings()(
                torch.tensor(self.config.mol_token_id, dtype=torch.long, device=inputs_embeds.device)
            )
            placeholder = (inputs_embeds == mol_embedding).all(-1)
        else:
            placeholder = input_ids == self.config.mol_token_id
        if not self._checks_cost_nothing(placeholder):
            # A CUDA training step: counting would be a host sync per step. The collator counted the slots of
            # every row against its molecules on the host (`MolTCProcessor.count_molecule_slots`).
            return placeholder.unsqueeze(-1).expand_as(inputs_embeds).to(inputs_embeds.device)
        num_placeholders = int(placeholder.sum())
        num_query = self.config.num_query_tokens
        num_molecule_tokens = molecule_features.shape[0] * molecule_features.shape[1]
        if num_placeholders != num_molecule_tokens:
            raise ValueError(
                f"The prompt has {num_placeholders} `{self.config.mol_token}` placeholder tokens "
                f"({num_placeholders / num_query:g} molecules x {num_query} query tokens) but "
                f"{molecule_features.shape[0]} molecules were given ({num_molecule_tokens} tokens). Each molecule "
                f"needs exactly one `{self.config.mol_token}` in the text before the processor expands it."
            )
        return placeholder.unsqueeze(-1).expand_as(inputs_embeds).to(inputs_embeds.device)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        graphs: Batch | None = None,
        mol_roles: torch.LongTensor | None = None,
        molecule_features: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of `input_ids` or `inputs_embeds`.")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)

        if molecule_features is None and graphs is not None:
            molecule_features = self.get_molecule_features(graphs, mol_roles)
        if molecule_features is not None:
            molecule_features = molecule_features.to(inputs_embeds.device, inputs_embeds.dtype)
            mask = self.get_placeholder_mask(input_ids, inputs_embeds, molecule_features)
            inputs_embeds = inputs_embeds.masked_scatter(mask, molecule_features)
        elif (
            input_ids is not None
            and self._checks_cost_nothing(input_ids)
            and self._is_prefill(cache)
            and (input_ids == self.config.mol_token_id).any()  # type: ignore[attr-defined]
        ):
            count = int((input_ids == self.config.mol_token_id).sum())  # type: ignore[attr-defined]
            raise ValueError(
                f"The prompt has {count} `{self.config.mol_token}` placeholder tokens but no `graphs` were given."
            )

        if attention_mask is None and position_ids is not None and self._is_prefill(cache):
            attention_mask = self._packed_sequence_mask(inputs_embeds, position_ids)

        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return BaseModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            cache=getattr(outputs, "cache", None),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def _packed_sequence_mask(self, inputs_embeds: torch.Tensor, position_ids: torch.Tensor):
        """Block-diagonal causal mask of padding-free rows (``position_ids`` restarting at 0), or ``None``.

        transformers' masking utilities find packed rows from ``position_ids`` only when the text model hands
        them to ``create_causal_mask``; OPT (Galactica) does not, so the mask is built here, in the format of
        the model's attention implementation (a 4D bool mask for sdpa, additive for eager, ``None`` for flash
        attention, which reads the rows from ``position_ids`` / ``cu_seq_lens_*`` itself), and passed on as a
        prepared mask. ``None`` when no row restarts (one sequence): plain causal attention.
        """
        return create_causal_mask(
            config=self.language_model.config,
            inputs_embeds=inputs_embeds,
            attention_mask=None,
            cache=None,
            position_ids=position_ids.to(inputs_embeds.device),
        )

    def _checks_cost_nothing(self, tensor: torch.Tensor) -> bool:
        """Input checks that read device values run on CPU tensors and outside training (evaluation, generation,
        a user's call); a CUDA training step skips them rather than stall the host on every forward."""
        return tensor.device.type == "cpu" or not self.training

    @staticmethod
    def _is_prefill(cache) -> bool:
        return cache is None or cache.get_seq_length() == 0


class MolTCForConditionalGeneration(MolTCPreTrainedModel, GenerationMixin):
    """MolTC with a tied LM head: the class that `AutoModel`/`AutoModelForCausalLM` load."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.decoder.embed_tokens.weight"}

    def __init__(self, config: MolTCConfig):
        super().__init__(config)
        self.model = MolTCModel(config)
        embeddings = self.model.get_input_embeddings()
        self.lm_head = nn.Linear(embeddings.embedding_dim, embeddings.num_embeddings, bias=False)
        # Which parameter the head ties to depends on the backbone (OPT: decoder.embed_tokens, Llama: embed_tokens).
        embedding_name = next(n for n, m in self.model.language_model.named_modules() if m is embeddings)
        self._tied_weights_keys = {"lm_head.weight": f"model.language_model.{embedding_name}.weight"}
        self.post_init()

    # -- plumbing expected by transformers / PEFT / TRL --
    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    @property
    def graph_encoder(self) -> MolTCGraphEncoder:
        return self.model.graph_encoder

    @property
    def mol_connector(self) -> MolTCMoleculeConnector:
        return self.model.mol_connector

    @property
    def language_model(self) -> nn.Module:
        return self.model.language_model

    def get_molecule_features(self, graphs: Batch, mol_roles: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.get_molecule_features(graphs, mol_roles)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, with generation stopping on the answer end.

        `transformers.Trainer` (and TRL's ``SFTTrainer``) align the generation config's eos with the tokenizer's
        (``</s>``), so a plain training run would save ``eos_token_id=[2, <answer end>]``; MolTC answers end
        with ``config.answer_end_token_id`` (the processor's answer end) and that alone is written back.
        """
        answer_end = getattr(self.config, "answer_end_token_id", None)
        if answer_end is not None and self.generation_config is not None:
            self.generation_config.eos_token_id = answer_end
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            for hook in SAVE_HOOKS:
                hook(save_directory)
        return result

    def untie_projectors(self) -> None:
        """Switch from pretraining (one shared projector) to role-specific projectors, copying the weights.

        Records ``projector_sharing="untied"`` in the config, so `save_pretrained` / `from_pretrained`
        rebuild two projectors and load both. Call it at the pretrain -> fine-tune stage switch, before PEFT.
        """
        self.model.mol_connector.untie(self.config.num_molecule_roles)
        self.config.projector_sharing = "untied"

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        graphs: Batch | None = None,
        mol_roles: torch.LongTensor | None = None,
        molecule_features: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            graphs=graphs,
            mol_roles=mol_roles,
            molecule_features=molecule_features,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, slice_indices, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=logits.size(-1), **kwargs)
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    # -- generation: molecules only on the prefill step, repeated per beam / returned sequence --
    def prepare_inputs_for_generation(
        self, input_ids, *args, is_first_iteration: bool | None = False, **kwargs
    ):
        molecule_inputs = {key: kwargs.pop(key, None) for key in MOLECULE_INPUTS}
        model_inputs = super().prepare_inputs_for_generation(
            input_ids, *args, is_first_iteration=is_first_iteration, **kwargs
        )
        if is_first_iteration or not kwargs.get("use_cache", True):
            model_inputs.update({k: v for k, v in molecule_inputs.items() if v is not None})
        return model_inputs

    def _expand_inputs_for_generation(
        self, expand_size: int = 1, is_encoder_decoder: bool = False, input_ids=None, **model_kwargs
    ):
        molecule_inputs = {key: model_kwargs.pop(key, None) for key in MOLECULE_INPUTS}
        input_ids, model_kwargs = super()._expand_inputs_for_generation(  # type: ignore[misc]
            expand_size=expand_size,
            is_encoder_decoder=is_encoder_decoder,
            input_ids=input_ids,
            **model_kwargs,
        )
        if expand_size > 1 and input_ids is not None:
            index = self._expanded_molecule_index(input_ids[::expand_size], expand_size)
            molecule_inputs = {k: _select_molecules(v, index) for k, v in molecule_inputs.items()}
        model_kwargs.update({k: v for k, v in molecule_inputs.items() if v is not None})
        return input_ids, model_kwargs

    def _expanded_molecule_index(self, input_ids: torch.Tensor, expand_size: int) -> torch.Tensor:
        """Molecule order after each sample is repeated ``expand_size`` times (sample-major, like input_ids)."""
        placeholders = (input_ids == self.config.mol_token_id).sum(1).cpu()  # type: ignore[attr-defined]
        counts = placeholders // self.config.num_query_tokens
        starts = torch.cumsum(counts, 0) - counts
        return torch.cat(
            [torch.arange(start, start + count).repeat(expand_size) for start, count in zip(starts, counts)]
        )


MOLECULE_INPUTS = ("graphs", "mol_roles", "molecule_features")


def _interleaved_roles(count: int, num_roles: int) -> torch.Tensor:
    """The collator's role layout: every row's molecules in role order (0, 1, 0, 1, ... for pairs)."""
    return torch.arange(num_roles).repeat(count // num_roles)


def _host_roles(graphs: Batch, mol_roles: torch.Tensor | None, from_graphs: bool) -> torch.Tensor | None:
    """The molecules' roles as a CPU tensor, read without a device sync where possible.

    ``mol_roles`` already on the CPU is used as is. A Trainer moves ``mol_roles`` to the device but leaves the PyG
    ``graphs`` on the host, and `MolTCProcessor.featurize_molecules` stores each graph's role in it
    (``graphs.mol_role``): in training (``from_graphs``, batches from the collator) that copy is read instead.
    Otherwise (inference, or graphs moved by the caller) the device tensor is read once: a caller's own
    ``mol_roles`` always wins outside training.
    """
    if mol_roles is None:
        return None
    if mol_roles.device.type == "cpu":
        return mol_roles
    stored = getattr(graphs, "mol_role", None)
    if (
        from_graphs
        and isinstance(stored, torch.Tensor)
        and stored.device.type == "cpu"
        and stored.numel() == mol_roles.numel()
    ):
        return stored
    return mol_roles.detach().cpu()


def host_max_nodes(graphs: Batch) -> int | None:
    """The largest graph's node count from a host batch's ``ptr`` (``None`` when the batch is on the device)."""
    ptr = getattr(graphs, "ptr", None)
    if ptr is None or ptr.device.type != "cpu" or ptr.numel() < 2:
        return None
    return int((ptr[1:] - ptr[:-1]).max())


def _select_molecules(values: Batch | torch.Tensor | None, index: torch.Tensor):
    """Reorder / repeat per-molecule inputs: a PyG ``Batch`` graph by graph, a tensor along dim 0."""
    if values is None:
        return None
    if isinstance(values, Batch):
        return Batch.from_data_list(values.index_select(index))
    return values[index.to(values.device)]


__all__ = [
    "SAVE_HOOKS",
    "MolTCForConditionalGeneration",
    "MolTCGraphEncoder",
    "MolTCModel",
    "MolTCPreTrainedModel",
]
