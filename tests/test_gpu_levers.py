"""The GPU-speed levers of issue #26, checked for correctness on CPU (their speed is `benchmarks/gpu_check.py`'s).

* Projector routing planned on the host: the same molecule tokens and the same loss as running each role's projector
  on its own molecules, and no read of the device-side ``mol_roles`` (a ``meta`` tensor here: reading it fails).
"""

from __future__ import annotations

import pytest
import torch

from moltc_hf import MolTCDataCollator
from moltc_hf.instructions import templates

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "O=C=O", "CCCCCl"]


def _rows(count: int = 6) -> list[dict]:
    pairs = [(SMILES[i % 6], SMILES[(3 * i + 1) % 6]) for i in range(count)]
    return [
        {
            "smiles_a": a,
            "smiles_b": b,
            "prompt": templates.pair_prompt(a, b, templates.DDI_QUESTION),
            "target": templates.binary_ddi_target(i % 2 == 0),
        }
        for i, (a, b) in enumerate(pairs)
    ]


def _untied(tiny):
    model, processor = tiny
    model.untie_projectors()
    with torch.no_grad():  # the two projectors must differ, or a routing mistake would not show
        model.mol_connector.projectors[1].language_projection.weight.add_(0.3)
    return model, processor


def _by_definition(model, graphs, roles: torch.Tensor) -> torch.Tensor:
    """Each role's projector on that role's molecules, put back in the order of ``graphs``."""
    nodes, mask = model.graph_encoder(graphs)
    out = None
    for role, projector in enumerate(model.mol_connector.projectors):
        index = torch.nonzero(roles == role).flatten()
        values = projector(nodes[index], mask[index])
        out = values.new_zeros(len(roles), *values.shape[1:]) if out is None else out
        out[index] = values
    return out


@pytest.mark.parametrize("order", ["pairs", "mixed"])
def test_host_planned_routing_equals_each_projector_on_its_role(tiny, order):
    model, processor = _untied(tiny)
    model.eval()
    molecules = [(a, b) for a, b in zip(SMILES, reversed(SMILES))]
    graphs, roles = processor.featurize_molecules(molecules)
    assert graphs.mol_role.tolist() == roles.tolist() == [0, 1] * len(molecules)
    if order == "mixed":  # any order of roles (not the collator's A, B, A, B): gathered per role
        permutation = torch.tensor([3, 0, 1, 2, 5, 4, 7, 6, 11, 8, 9, 10])
        graphs = graphs.index_select(permutation)
        from torch_geometric.data import Batch

        graphs, roles = Batch.from_data_list(graphs), roles[permutation]
    with torch.no_grad():
        expected = _by_definition(model, graphs, roles)
        torch.testing.assert_close(model.get_molecule_features(graphs, roles), expected, rtol=1e-5, atol=1e-6)
        # mol_roles on a device the host cannot read: the routing comes from the graphs' own (host) copy
        torch.testing.assert_close(
            model.get_molecule_features(graphs, roles.to("meta")), expected, rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("padding_free", [False, True])
@pytest.mark.parametrize("per_role", [False, True])
def test_training_loss_equals_the_per_role_definition(tiny, padding_free, per_role):
    """Training mode (dropout, BatchNorm batch statistics): the same loss to 1e-5 as the per-role definition."""
    model, processor = _untied(tiny)
    model.config.graph_batch_per_role = per_role
    model.train()
    batch = MolTCDataCollator(processor, padding_free=padding_free, pack_length="longest")(_rows())
    graphs, roles = batch.pop("graphs"), batch["mol_roles"]
    torch.manual_seed(0)
    if per_role:
        from torch_geometric.data import Batch

        features = torch.empty(0)
        parts = {}
        for role in (0, 1):
            index = torch.nonzero(roles == role).flatten()
            part = Batch.from_data_list(graphs.index_select(index))
            nodes, mask = model.graph_encoder(part)
            parts[role] = (index, model.mol_connector.projectors[role](nodes, mask))
        features = parts[0][1].new_zeros(len(roles), *parts[0][1].shape[1:])
        for index, values in parts.values():
            features[index] = values
    else:
        features = _by_definition(model, graphs, roles)
    expected = model(**batch, molecule_features=features).loss
    torch.manual_seed(0)
    # mol_roles where the host cannot read it (as on a CUDA device): training never reads it back
    loss = model(**{**batch, "mol_roles": roles.to("meta")}, graphs=graphs).loss
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    loss.backward()
    for projector in model.mol_connector.projectors:  # both projectors learn from their own molecules
        assert projector.query_tokens.grad is not None and projector.query_tokens.grad.abs().sum() > 0
