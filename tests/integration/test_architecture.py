"""The package's shape: data flows one way, the checkpoint files stand alone, ``import moltc_hf`` stays light.

The import graph is read with ``ast`` (every ``import`` anywhere in a module, functions included: an import
inside a function to dodge a cycle is still a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "moltc_hf"
CHECKPOINT_FILES = {
    "moltc_hf.configuration_moltc",
    "moltc_hf.modeling_moltc",
    "moltc_hf.processing_moltc",
    "moltc_hf.featurization",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the moltc_hf modules it imports (``from . import x`` counts as importing submodule ``x``)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                submodules = [f"{target}.{alias.name}" for alias in node.names]
                found = [m for m in submodules if m in modules]
                targets.update(found or ([target] if target in modules else []))
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in modules)
        graph[name] = targets - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), plus self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_graph_reader_sees_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    assert "moltc_hf.processing_moltc" in graph["moltc_hf.collator"]  # real edges are read


def test_no_import_cycle():
    assert find_cycles(import_graph()) == []


def test_checkpoint_files_import_only_each_other():
    graph = import_graph()
    for name in CHECKPOINT_FILES:
        assert graph[name] <= CHECKPOINT_FILES, (name, graph[name] - CHECKPOINT_FILES)


def test_checkpoint_files_use_relative_imports_and_say_so():
    """Remote code copies the files beside the weights: an absolute ``moltc_hf`` import would break there."""
    for name in CHECKPOINT_FILES:
        path = PACKAGE / f"{name.split('.')[-1]}.py"
        text = path.read_text()
        assert text.startswith("# Checkpoint file"), path
        tree = ast.parse(text)
        absolute = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").startswith("moltc_hf")
        ]
        assert not absolute, (path, absolute)


def test_library_never_imports_the_cli():
    graph = import_graph()
    for name, targets in graph.items():
        if not name.startswith("moltc_hf.cli"):
            assert not {t for t in targets if t.startswith("moltc_hf.cli")}, name


def test_special_token_strings_are_written_once():
    """The checkpoint code owns ``<mol>`` and the SMILES tags; every other module imports them."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "configuration_moltc.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in ("<mol>", "[START_I_SMILES]", "[END_I_SMILES]"), path


HEAVY = (
    "moltc_hf.instructions.builder",
    "moltc_hf.instructions.readers",
    "moltc_hf.baselines",
    "moltc_hf.evaluation.evaluate",
    "moltc_hf.inference.screening",
    "matplotlib",
    "sklearn",
    "gradio",
    "datasets",
)


@pytest.mark.slow
def test_import_moltc_hf_stays_light():
    """The dataset builder, reports, reference models and the demo load only when used."""
    code = f"import sys, moltc_hf; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"`import moltc_hf` imports {result.stdout.strip()}"


# The layers, lowest first: a module may import its own layer and the ones below, never one above. Written
# once here and in docs/architecture.md (test_docs checks the two agree). A name ending in "." is a package.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("checkpoint files", ("configuration_moltc", "modeling_moltc", "processing_moltc", "featurization")),
    ("utilities", ("_lazy", "_progress", "atomic", "rejects", "corpus")),
    ("tasks", ("tasks.",)),
    ("models", ("tokenization_moltc", "factory", "loader", "lora", "conversion", "collator")),
    ("data", ("instructions.",)),
    ("training, inference", ("training.", "inference.")),
    ("baselines", ("baselines.",)),
    ("evaluation", ("evaluation.",)),
    ("apps", ("pipeline", "hub", "demo", "quickstart")),
    ("interface", ("", "cli.")),
]
# Same layer, still forbidden: training and inference are independent (neither may need the other).
FORBIDDEN_SIDEWAYS = {("training", "inference"), ("inference", "training")}


def layer_of(module: str) -> int:
    """The index in LAYERS of a moltc_hf module (``moltc_hf`` itself is the interface)."""
    name = module.removeprefix("moltc_hf").removeprefix(".")
    found = [
        i
        for i, (_, members) in enumerate(LAYERS)
        for member in members
        if (name == member if not member.endswith(".") else (name + ".").startswith(member) and member)
        or (member == "" and name == "")
    ]
    assert len(found) == 1, f"{module} belongs to {len(found)} layers (add it to LAYERS in one place)"
    return found[0]


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_belongs_to_exactly_one_layer():
    for module in import_graph():
        layer_of(module)


def test_no_import_goes_up_a_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(module) or (_package(module), _package(target)) in FORBIDDEN_SIDEWAYS
    ]
    assert not upward, "imports that go up a layer (see docs/architecture.md):\n" + "\n".join(sorted(upward))


def test_no_package_cycle():
    """Package level (``baselines`` -> ``evaluation`` -> ``baselines`` was one): the graph of top-level parts."""
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        graph.setdefault(_package(module), set()).update(_package(t) for t in targets)
    for package in graph:
        graph[package].discard(package)
    graph[""] = set()  # the package's __init__ re-exports from everything: it is the top, not a cycle
    assert find_cycles(graph) == []
