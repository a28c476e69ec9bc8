"""`graph_batch_per_role`: the original MolTC runs molecule-A and molecule-B graphs as two GIN batches.

In training mode BatchNorm normalises with the batch's statistics, so one mixed batch and two per-side
batches give different molecule tokens; a converted checkpoint fine-tuned further must match the original.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Batch

PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1"), ("O=C=O", "CCCCCl")]


def test_per_role_batches_match_two_separate_gin_batches(tiny):
    model, processor = tiny
    graphs, roles = processor.featurize_molecules(PAIRS)
    inner = model.model
    inner.train()
    torch.manual_seed(0)
    mixed = inner.get_molecule_features(graphs, roles)
    inner.config.graph_batch_per_role = True
    try:
        per_role = inner.get_molecule_features(graphs, roles)
        for role in (0, 1):
            index = torch.nonzero(roles == role).flatten()
            alone = Batch.from_data_list(graphs.index_select(index))
            nodes, mask = inner.graph_encoder(alone)
            expected = inner.mol_connector(nodes, mask, roles[index])
            torch.testing.assert_close(per_role[index], expected)
        assert not torch.allclose(per_role, mixed)  # BatchNorm saw other statistics
        inner.eval()
        with torch.no_grad():
            evaluated = inner.get_molecule_features(graphs, roles)
            inner.config.graph_batch_per_role = False
            torch.testing.assert_close(inner.get_molecule_features(graphs, roles), evaluated)
    finally:
        inner.config.graph_batch_per_role = False
