"""Self-supervised pretraining of MolTC's GIN on an unlabelled corpus (MOSES), before any pair is seen.

The original MolTC starts from a GIN pretrained on 2 M ZINC molecules (pretrain-gnns / GraphCL,
``gin_pretrained/graphcl_80.pth``); a randomly initialised GIN has to learn chemistry from the task's labels,
which is exactly what fails on drugs the task never showed. Two objectives of that lineage, on the same
featurizer and the same weights layout (so `load_graphcl_weights`, `build_model(graph_encoder=...)` and converted
checkpoints all read the result):

* ``attr_mask`` (Hu et al. 2020, pretrain-gnns): 15% of the atoms get the mask atom type (index 119) and the
  GIN must name the element from the neighbourhood.
* ``graphcl`` (You et al. 2020): two views of each molecule (20% of the atoms dropped; the attribute-masked view)
  must be closer to each other than to the other molecules of the batch (NT-Xent on the pooled graph vector).

The corpus is read as a seeded stream (`moltc_hf.corpus.shuffled_stream`): each step featurizes its own batch,
so memory does not grow with the corpus. Step counts are fixed; the masks of step ``s`` come from a generator
seeded with ``(seed, s)``, so a run resumed from its checkpoint gives the same weights as an uninterrupted one.

Output folder (what `build_model(..., graph_encoder=folder)` reads): ``graph_encoder.safetensors`` (the
`MolTCGraphEncoder` state dict, pretrain-gnns key names), ``graph_config.json``, ``pretraining.json`` (the
arguments, the corpus file and its SHA-256, the loss / held-out accuracy curve, the cost) and, while running,
``checkpoint/`` (weights + optimizer + position in the stream) for ``--resume``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import write_folder_atomically
from ..configuration_moltc import NUM_ATOM_TYPES, MolTCGraphConfig
from ..corpus import CorpusFile, iter_smiles, shuffled_stream
from ..factory import GRAPH_CONFIG_FILE, GRAPH_ENCODER_WEIGHTS, load_model_spec
from ..featurization import InvalidMoleculeError, mol_to_graph, parse_molecule
from ..modeling_moltc import Batch, MolTCGraphEncoder

logger = logging.getLogger(__name__)

MASK_ATOM_INDEX = NUM_ATOM_TYPES - 1  # 119: pretrain-gnns' mask token; the head predicts the 119 real types
OBJECTIVES = ("attr_mask", "graphcl")
PRETRAINING_FILE = "pretraining.json"
CHECKPOINT_DIR = "checkpoint"


@dataclass
class GraphPretrainingArguments:
    """What a graph-pretraining run does; every field is recorded in ``pretraining.json``.

    Attributes:
        max_steps: optimizer steps (fixed: the run's length never depends on the machine).
        batch_size: molecules per step.
        learning_rate / weight_decay: AdamW; the rate decays by a cosine to 10% over ``max_steps``.
        objectives: any of ``attr_mask`` and ``graphcl`` (their losses are summed).
        mask_rate: fraction of atoms masked (at least one per batch).
        drop_rate: fraction of atoms dropped in GraphCL's second view (each molecule keeps its first atom).
        temperature: NT-Xent temperature.
        seed: the stream order, the masks and the initial weights.
        corpus_limit: use only the first N molecules of the corpus file (every epoch); ``None`` = all of them.
        eval_every / eval_molecules: held-out attribute-masking accuracy every N steps on this many molecules of
            the held-out file (MOSES ``test``), with a fixed mask.
        save_every: write ``checkpoint/`` every N steps (and at the end) for ``--resume``.
        device: ``auto`` (CUDA when present, bf16 autocast there) or a torch device string.
    """

    max_steps: int = 1500
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    objectives: tuple[str, ...] = OBJECTIVES
    mask_rate: float = 0.15
    drop_rate: float = 0.2
    temperature: float = 0.1
    seed: int = 0
    corpus_limit: int | None = None
    eval_every: int = 250
    eval_molecules: int = 2000
    save_every: int = 500
    device: str = "auto"

    def __post_init__(self):
        self.objectives = tuple(self.objectives)
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if not self.objectives or unknown:
            raise ValueError(
                f"graph pretraining objectives: expected some of {list(OBJECTIVES)}, got {unknown}"
            )
        for name in ("max_steps", "batch_size", "eval_every", "eval_molecules", "save_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"graph pretraining {name}: expected an integer >= 1, got {value!r}")
        if self.batch_size < 2 and "graphcl" in self.objectives:
            raise ValueError("graph pretraining batch_size: graphcl needs >= 2 molecules per batch")
        for name in ("mask_rate", "drop_rate"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"graph pretraining {name}: expected a number in (0, 1)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GraphPretrainingArguments:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"graph pretraining: unknown key(s) {unknown}; expected some of {sorted(known)}")
        return cls(**values)


class GraphPretrainingModel(nn.Module):
    """The GIN plus the two small heads the objectives need (only the GIN is kept)."""

    def __init__(self, config: MolTCGraphConfig):
        super().__init__()
        width = config.hidden_size
        self.encoder = MolTCGraphEncoder(config)
        self.atom_head = nn.Linear(width, MASK_ATOM_INDEX)
        self.projection = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def encode(self, graphs) -> tuple[torch.Tensor, torch.Tensor]:
        """``(node embeddings in batch order [num_nodes, d], pooled graph vectors [num_graphs, d])``."""
        tokens, mask = self.encoder(graphs)
        return tokens[:, 1:][mask[:, 1:]], tokens[:, 0]


def masked_view(
    graphs: Batch, rate: float, generator: torch.Generator
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The batch with ``rate`` of its atoms set to the mask type: ``(view, masked atom indices, their types)``."""
    num_nodes = graphs.x.size(0)
    count = max(1, round(rate * num_nodes))
    index = torch.randperm(num_nodes, generator=generator)[:count]
    x = graphs.x.clone()
    targets = x[index, 0].clone()
    x[index, 0] = MASK_ATOM_INDEX
    x[index, 1] = 0
    view = SimpleNamespace(
        x=x,
        edge_index=graphs.edge_index,
        edge_attr=graphs.edge_attr,
        batch=graphs.batch,
        num_graphs=graphs.num_graphs,
    )
    return view, index, targets


def dropped_view(graphs: Batch, rate: float, generator: torch.Generator):
    """GraphCL's node dropping: each atom is removed with probability ``rate`` (never a molecule's first atom)."""
    from torch_geometric.utils import subgraph

    num_nodes = graphs.x.size(0)
    keep = torch.rand(num_nodes, generator=generator) >= rate
    keep[graphs.ptr[:-1]] = True
    edge_index, edge_attr = subgraph(
        keep, graphs.edge_index, graphs.edge_attr, relabel_nodes=True, num_nodes=num_nodes
    )
    return SimpleNamespace(
        x=graphs.x[keep],
        edge_index=edge_index,
        edge_attr=edge_attr,
        batch=graphs.batch[keep],
        num_graphs=graphs.num_graphs,
    )


def nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """GraphCL's loss: each molecule's two views are the positives, the batch's other molecules the negatives."""
    first, second = nn.functional.normalize(first, dim=-1), nn.functional.normalize(second, dim=-1)
    logits = first @ second.t() / temperature
    labels = torch.arange(first.size(0), device=first.device)
    return 0.5 * (
        nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.t(), labels)
    )


def pretraining_loss(
    model: GraphPretrainingModel, graphs: Batch, args: GraphPretrainingArguments, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """The objectives' losses for one batch (and ``accuracy`` of the masked-atom guesses)."""
    out: dict[str, torch.Tensor] = {}
    view, index, targets = masked_view(graphs, args.mask_rate, generator)
    index, targets = index.to(graphs.x.device), targets.to(graphs.x.device)
    nodes, pooled = model.encode(view)
    if "attr_mask" in args.objectives:
        logits = model.atom_head(nodes[index]).float()
        out["attr_mask"] = nn.functional.cross_entropy(logits, targets)
        out["accuracy"] = (logits.argmax(-1) == targets).float().mean().detach()
    if "graphcl" in args.objectives:
        _, pooled_dropped = model.encode(dropped_view(graphs, args.drop_rate, generator))
        out["graphcl"] = nt_xent(
            model.projection(pooled_dropped).float(), model.projection(pooled).float(), args.temperature
        )
    out["loss"] = sum(out[name] for name in args.objectives)
    return out


def _graph_or_none(line: int, smiles: str):
    """The molecule's graph, or ``None`` for one RDKit refuses (a corpus line is skipped, not a failure)."""
    try:
        return mol_to_graph(parse_molecule(smiles, row=line, field="SMILES"))
    except InvalidMoleculeError:
        return None


def featurized_batches(
    stream: Iterator[tuple[int, str]], batch_size: int, skipped: list[int]
) -> Iterator[tuple[Batch, int]]:
    """``(PyG Batch of batch_size molecules, stream items consumed)``; unparsable molecules are counted, skipped."""
    while True:
        graphs, consumed = [], 0
        while len(graphs) < batch_size:
            graph = _graph_or_none(*next(stream))
            consumed += 1
            if graph is None:
                skipped[0] += 1
            else:
                graphs.append(graph)
        yield Batch.from_data_list(graphs), consumed


@torch.no_grad()
def heldout_accuracy(
    model: GraphPretrainingModel, batches: list[Batch], args: GraphPretrainingArguments, device
) -> dict[str, float]:
    """Masked-atom accuracy on held-out molecules with a fixed mask, beside always guessing the commonest type."""
    model.eval()
    generator = torch.Generator().manual_seed(args.seed + 12345)
    correct = total = majority = 0
    losses = []
    for graphs in batches:
        view, index, targets = masked_view(graphs, args.mask_rate, generator)
        view = SimpleNamespace(
            **{k: v.to(device) if torch.is_tensor(v) else v for k, v in vars(view).items()}
        )
        nodes, _ = model.encode(view)
        logits = model.atom_head(nodes[index.to(device)]).float().cpu()
        losses.append(nn.functional.cross_entropy(logits, targets, reduction="sum").item())
        correct += int((logits.argmax(-1) == targets).sum())
        majority += int((targets == 5).sum())  # carbon (atomic number 6 -> index 5)
        total += targets.numel()
    model.train()
    return {
        "heldout_accuracy": correct / total,
        "heldout_loss": sum(losses) / total,
        "heldout_carbon_rate": majority / total,
    }


@dataclass
class GraphPretrainingResult:
    output_dir: Path
    global_step: int
    curve: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def pretrain_graph_encoder(
    corpus: CorpusFile,
    output_dir: str | Path,
    *,
    graph_config: MolTCGraphConfig | dict | str = "tiny",
    args: GraphPretrainingArguments | None = None,
    heldout: CorpusFile | None = None,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> GraphPretrainingResult:
    """Pretrain a GIN of ``graph_config`` (a `MolTCGraphConfig`, its dict, or a `hub_configs/models` name whose
    graph config is used) on ``corpus`` and write the folder described in the module docstring."""
    args = args or GraphPretrainingArguments()
    output_dir = Path(output_dir)
    config = _graph_config(graph_config)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    torch.manual_seed(args.seed)
    model = GraphPretrainingModel(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: 0.1 + 0.45 * (1 + math.cos(math.pi * min(step, args.max_steps) / args.max_steps)),
    )
    state = {"step": 0, "consumed": 0, "skipped": 0, "curve": [], "seconds": 0.0}
    checkpoint = output_dir / CHECKPOINT_DIR
    if resume and (checkpoint / "progress.json").is_file():
        state = _load_checkpoint(checkpoint, model, optimizer, schedule, args)
        logger.info("Resuming graph pretraining at step %d of %d", state["step"], args.max_steps)
    elif output_dir.exists() and any(output_dir.iterdir()) and not resume:
        raise FileExistsError(
            f"{output_dir} is not empty; pass --resume to continue it or choose another --out"
        )
    output_dir.mkdir(parents=True, exist_ok=True)

    stream = shuffled_stream(corpus, seed=args.seed, limit=args.corpus_limit)
    for _ in itertools.islice(stream, state["consumed"]):  # replay the stream to where the checkpoint stopped
        pass
    skipped = [state["skipped"]]
    batches = featurized_batches(stream, args.batch_size, skipped)
    heldout_batches = _heldout_batches(heldout, args) if heldout is not None else []
    started = time.perf_counter() - state["seconds"]
    running: dict[str, list[float]] = {}
    model.train()
    while state["step"] < args.max_steps:
        graphs, consumed = next(batches)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + state["step"])
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            losses = pretraining_loss(model, graphs.to(device), args, generator)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        schedule.step()
        state["step"] += 1
        state["consumed"] += consumed
        for key, value in losses.items():
            running.setdefault(key, []).append(float(value.detach()))
        if state["step"] % args.eval_every == 0 or state["step"] == args.max_steps:
            point = {"step": state["step"], "molecules": state["step"] * args.batch_size}
            point |= {f"train_{k}": sum(v) / len(v) for k, v in running.items()}
            point |= heldout_accuracy(model, heldout_batches, args, device) if heldout_batches else {}
            point["seconds"] = time.perf_counter() - started
            state["curve"].append(point)
            running = {}
            if progress is not None:
                progress(point)
        if state["step"] % args.save_every == 0 or state["step"] == args.max_steps:
            state["skipped"], state["seconds"] = skipped[0], time.perf_counter() - started
            _save_checkpoint(checkpoint, model, optimizer, schedule, state, args)

    seconds = time.perf_counter() - started
    record = {
        "arguments": dataclasses.asdict(args),
        "graph_config": config.to_dict(),
        "corpus": {"file": corpus.describe(), "sha256": corpus.sha256(), "skipped_molecules": skipped[0]},
        "heldout": heldout.describe() if heldout is not None else None,
        "steps": state["step"],
        "molecules_seen": state["step"] * args.batch_size,
        "seconds": seconds,
        "minutes_per_100k_molecules": seconds / 60 / max(1, state["step"] * args.batch_size) * 100_000,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "curve": state["curve"],
    }
    write_folder_atomically(
        output_dir / "final", lambda folder: save_graph_encoder(model.encoder, folder, record)
    )
    return GraphPretrainingResult(output_dir, state["step"], state["curve"], seconds)


def save_graph_encoder(encoder: MolTCGraphEncoder, folder: Path, record: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    save_file(weights, str(folder / GRAPH_ENCODER_WEIGHTS), metadata={"format": "pt"})
    (folder / GRAPH_CONFIG_FILE).write_text(json.dumps(encoder.config.to_dict(), indent=2) + "\n")
    if record is not None:
        (folder / PRETRAINING_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")


def _graph_config(graph_config: MolTCGraphConfig | dict | str) -> MolTCGraphConfig:
    if isinstance(graph_config, MolTCGraphConfig):
        return graph_config
    if isinstance(graph_config, str):
        graph_config = load_model_spec(graph_config).get("graph_config", {})
    return MolTCGraphConfig(**graph_config)


def _heldout_batches(heldout: CorpusFile, args: GraphPretrainingArguments) -> list[Batch]:
    graphs = [_graph_or_none(*item) for item in iter_smiles(heldout, limit=args.eval_molecules)]
    graphs = [graph for graph in graphs if graph is not None]
    return [Batch.from_data_list(graphs[i : i + 512]) for i in range(0, len(graphs), 512)]


def _save_checkpoint(folder: Path, model, optimizer, schedule, state: dict, args) -> None:
    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            str(tmp / "model.safetensors"),
        )
        torch.save(
            {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, tmp / "optimizer.pt"
        )
        (tmp / "progress.json").write_text(
            json.dumps(state | {"arguments": dataclasses.asdict(args)}, indent=1)
        )

    write_folder_atomically(folder, write)


def _load_checkpoint(folder: Path, model, optimizer, schedule, args) -> dict:
    state = json.loads((folder / "progress.json").read_text())
    saved = dict(state.pop("arguments"))
    saved["objectives"] = tuple(saved["objectives"])
    current = dataclasses.asdict(args)
    differ = sorted(
        k for k in current if k not in ("eval_every", "save_every", "device") and saved.get(k) != current[k]
    )
    if differ:
        raise ValueError(
            f"--resume: {folder} was written with other settings ({', '.join(f'{k}={saved.get(k)!r}' for k in differ)})"
        )
    if state["step"] > args.max_steps:
        raise ValueError(
            f"--resume: the checkpoint is at step {state['step']}, past max_steps={args.max_steps}"
        )
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    extra = torch.load(
        folder / "optimizer.pt", weights_only=True, map_location="cpu"
    )  # tensors and numbers only
    optimizer.load_state_dict(extra["optimizer"])
    schedule.load_state_dict(extra["schedule"])
    return state


def finished_graph_encoder(output_dir: Path) -> Path | None:
    final = Path(output_dir) / "final"
    return final if (final / GRAPH_ENCODER_WEIGHTS).is_file() else None


__all__ = [
    "OBJECTIVES",
    "GraphPretrainingArguments",
    "GraphPretrainingModel",
    "GraphPretrainingResult",
    "finished_graph_encoder",
    "pretrain_graph_encoder",
    "save_graph_encoder",
]
