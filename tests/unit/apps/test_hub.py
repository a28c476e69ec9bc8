"""Hub integration offline: push dry runs, the generated model card, loading by hub id from a local cache."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard, ModelCardData, metadata_load
from safetensors.torch import load_file

from moltc_hf import build_model
from moltc_hf.cli import main as cli_main
from moltc_hf.hub import install_in_cache, license_for, metrics_rows, model_card, push_folder
from moltc_hf.tasks import templates

HUB_ID = "moltc-org/moltc-tiny"
PROMPT = templates.pair_prompt("CCO", "O", templates.DDI_QUESTION)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A saved tiny model with the leftovers a training run leaves (trainer checkpoint, byte code, metrics)."""
    folder = tmp_path_factory.mktemp("model") / "final"
    model, processor = build_model("tiny", seed=0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    metrics = {
        "ddi_binary": {"test": {"accuracy": 0.8125, "auroc": 0.875, "n": 16}},
        "solvation": {"test": {"rmse": 1.25}},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"x")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "modeling_moltc.cpython-311.pyc").write_bytes(b"x")
    return folder


def test_model_dry_run_lists_files_and_card_without_writing(model_dir):
    result = push_folder(model_dir, "someone/moltc-tiny", dry_run=True, datasets=["someone/mot-instructions"])
    assert result.dry_run and result.url is None
    assert not (model_dir / "README.md").exists(), "a dry run must not touch the folder"
    assert "model.safetensors" in result.files and "config.json" in result.files
    assert "processor_config.json" in result.files or "tokenizer.json" in result.files
    assert {"modeling_moltc.py", "configuration_moltc.py", "metrics.json", "README.md"} <= set(result.files)
    assert not [f for f in result.files if f.startswith(("checkpoint-", "__pycache__")) or f.endswith(".pyc")]


def test_model_card_metadata_and_body(model_dir, tmp_path):
    card = model_card(model_dir, "someone/moltc-tiny", datasets=["someone/mot-instructions"])
    path = tmp_path / "README.md"
    card.save(path)
    metadata = metadata_load(path)  # the YAML header parses
    assert metadata["license"] == "apache-2.0"  # local tiny model: no third-party weights
    assert metadata["library_name"] == "transformers"
    assert metadata["datasets"] == ["someone/mot-instructions"]
    assert "moltc" in metadata["tags"] and "base_model" not in metadata
    data = ModelCardData(
        **metadata
    )  # validate-style: the metadata round-trips through the hub's schema class
    assert data.license == "apache-2.0" and data.to_dict() == ModelCard(str(card)).data.to_dict()
    text = str(card)
    assert "| ddi_binary/test | accuracy | 0.8125 |" in text and "| solvation/test | rmse | 1.25 |" in text
    assert 'AutoModel.from_pretrained("someone/moltc-tiny", trust_remote_code=True)' in text
    assert "AutoProcessor.from_pretrained" in text and 'pipeline("molecule-pair-interaction"' in text
    assert "GIN, 2 layers x 32" in text and "trained locally" in text


def test_card_usage_snippet_runs(model_dir, tmp_path):
    """The card's Python block works as written (with the repo id pointed at the local folder)."""
    text = str(model_card(model_dir, "someone/moltc-tiny"))
    code = (
        text.split("```python\n", 1)[1]
        .split("```", 1)[0]
        .replace('"someone/moltc-tiny"', repr(str(model_dir)))
    )
    namespace: dict = {}
    exec(compile(code, "model_card_usage", "exec"), namespace)
    answer = namespace["predict"]({"smiles_a": "O", "smiles_b": "CCO"}, task="ddi_binary")
    assert {"task", "answer", "label", "value", "probability", "reasoning"} <= set(answer)
    assert answer["label"] in ("interaction", "no interaction")


def test_galactica_base_sets_non_commercial_license(model_dir):
    assert license_for("facebook/galactica-1.3b")[0] == "cc-by-nc-4.0"
    card = model_card(model_dir, "someone/moltc-galactica", base_model="facebook/galactica-1.3b")
    assert card.data.license == "cc-by-nc-4.0" and card.data.base_model == "facebook/galactica-1.3b"
    assert "CC BY-NC 4.0" in str(card)


def test_metrics_rows_flatten_and_skip_non_numbers():
    rows = metrics_rows(
        {"accuracy": 0.5, "split": "test", "nested": {"rmse": 2, "ok": True, "cm": [[1, 2], [3, 4]]}}
    )
    assert rows == [("all", "accuracy", "0.5"), ("nested", "rmse", "2")]
    evaluate_report = {  # the shape `moltc evaluate` writes
        "task": "ddi_binary",
        "mode": "score",
        "num_rows": 40,
        "metrics": {"auroc": 0.71234, "accuracy": 0.65},
        "order_consistency": {"agreement": 0.9},
        "references": {"drug_prior": {"auroc": 0.6}},
        "candidates": ["#Drug1 and #Drug2 do not exhibit ...", "#Drug1 and #Drug2 exhibit ..."],
    }
    assert metrics_rows(evaluate_report) == [
        ("ddi_binary", "auroc", "0.7123"),
        ("ddi_binary", "accuracy", "0.65"),
        ("ddi_binary order_consistency", "agreement", "0.9"),
        ("ddi_binary references/drug_prior", "auroc", "0.6"),
    ]


def test_hand_written_readme_is_kept(tmp_path, model_dir):
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((model_dir / name).read_bytes())
    (folder / "README.md").write_text("# my own card\n")
    result = push_folder(folder, "someone/x", dry_run=True)
    assert result.card == "# my own card\n" and "kept the folder's own README.md" in result.notes[0]


def test_dataset_folder_dry_run(tmp_path, capsys):
    """The `moltc build-dataset` layout (card with YAML configs + per-config parquet shards) pushes as it is."""
    folder = tmp_path / "mot-instructions"
    shard = folder / "data" / "freesolv" / "train-00000-of-00001.parquet"
    shard.parent.mkdir(parents=True)
    pd.DataFrame(
        {"task": ["solvation"], "smiles_a": ["O"], "smiles_b": ["CCO"], "prompt": ["p"], "target": ["t"]}
    ).to_parquet(shard)
    pd.DataFrame({"row": [3], "reason": ["bad SMILES"]}).to_parquet(folder / "rejects.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: freesolv\n  data_files:\n  - split: train\n    path: data/freesolv/train-*.parquet\n---\n# MoT\n"
    )
    assert (
        cli_main(
            [
                "push",
                str(folder),
                "--repo-type",
                "dataset",
                "--repo-id",
                "someone/mot-instructions",
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "would upload 3 files to dataset repo someone/mot-instructions" in out
    assert "data/freesolv/train-00000-of-00001.parquet" in out and "config_name: freesolv" in out


def test_push_refuses_bad_input(tmp_path, model_dir):
    with pytest.raises(ValueError, match="user-or-org/name"):
        push_folder(model_dir, "no-namespace", dry_run=True)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="is not a saved model"):
        push_folder(tmp_path, "someone/x", dry_run=True)
    with pytest.raises(ValueError, match="repo_type"):
        push_folder(model_dir, "someone/x", repo_type="repo", dry_run=True)


def _logits_loaded_by_hub_id(
    tmp_path: Path, env: dict[str, str], checks: tuple[str, ...] = ()
) -> torch.Tensor:
    """PROMPT's logits from `HUB_ID` loaded with ``trust_remote_code`` in a fresh process with ``env`` (plus
    ``checks``, lines run right after loading)."""
    out = tmp_path / "hub_logits.safetensors"
    script = "\n".join(
        [
            "import sys, torch",
            "from transformers import AutoModel, AutoProcessor",
            "from safetensors.torch import save_file",
            "torch.set_num_threads(1)",
            f"model = AutoModel.from_pretrained({HUB_ID!r}, trust_remote_code=True).eval()",
            f"processor = AutoProcessor.from_pretrained({HUB_ID!r}, trust_remote_code=True)",
            *checks,
            f"inputs = processor(text=[{PROMPT!r}], molecules=[('CCO', 'O')])",
            "with torch.no_grad():",
            f"    save_file({{'logits': model(**inputs).logits.contiguous()}}, {str(out)!r})",
        ]
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), **env}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, timeout=120)
    return load_file(out)["logits"]


def _tiny_logits() -> torch.Tensor:
    """PROMPT's logits from the tiny model built in this process: what the hub copy must reproduce."""
    model, processor = build_model("tiny", seed=0)
    with torch.no_grad():
        return model.eval()(**processor(text=[PROMPT], molecules=[("CCO", "O")])).logits


@pytest.mark.slow
def test_load_by_hub_id_from_offline_cache(tmp_path, model_dir):
    """`from_pretrained("org/name", trust_remote_code=True)` resolves a hub-layout cache with HF_HUB_OFFLINE=1."""
    cache = tmp_path / "hub"
    snapshot = install_in_cache(model_dir, HUB_ID, cache_dir=cache)
    repo_dir = cache / "models--moltc-org--moltc-tiny"
    assert (repo_dir / "refs" / "main").read_text() == snapshot.name
    assert not (snapshot / "checkpoint-10").exists()
    logits = _logits_loaded_by_hub_id(
        tmp_path,
        {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"},
        checks=(
            'assert "moltc_hf" not in sys.modules',
            f"assert model.config._name_or_path == {HUB_ID!r}, model.config._name_or_path",
        ),
    )
    torch.testing.assert_close(logits, _tiny_logits())


class _HubImitation(http.server.BaseHTTPRequestHandler):
    """The three Hub endpoints `from_pretrained` uses: file resolve (HEAD/GET), model info, folder tree."""

    folder: Path
    repo_id: str
    commit = "0123456789abcdef0123456789abcdef01234567"
    requests: list[str] = []

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        for key, value in {
            "X-Repo-Commit": self.commit,
            "Content-Length": str(len(body)),
            **(headers or {}),
        }.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _handle(self, head: bool) -> None:
        path = self.path.split("?")[0]
        self.requests.append(f"{self.command} {path}")
        resolve = f"/{self.repo_id}/resolve/"
        if path.startswith(resolve):
            name = path[len(resolve) :].split("/", 1)[1]
            file = self.folder / name
            if not file.is_file():
                return self._send(404, headers={"X-Error-Code": "EntryNotFound"}, head=head)
            data = file.read_bytes()
            return self._send(200, data, {"ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, head)
        if path.startswith(f"/api/models/{self.repo_id}/tree/"):
            return self._send(200, b"[]", {"Content-Type": "application/json"}, head)
        if path.startswith(f"/api/models/{self.repo_id}"):
            siblings = [
                {"rfilename": p.relative_to(self.folder).as_posix()}
                for p in self.folder.rglob("*")
                if p.is_file()
            ]
            body = json.dumps({"id": self.repo_id, "sha": self.commit, "siblings": siblings}).encode()
            return self._send(200, body, {"Content-Type": "application/json"}, head)
        return self._send(404, head=head)

    def do_HEAD(self):
        self._handle(head=True)

    def do_GET(self):
        self._handle(head=False)

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_load_by_hub_id_over_http_from_a_loopback_hub(tmp_path, model_dir):
    """The online path: huggingface_hub downloads config, code, weights and processor from HF_ENDPOINT."""
    handler = type("Hub", (_HubImitation,), {"folder": model_dir, "repo_id": HUB_ID, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "HF_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_CACHE": str(tmp_path / "hub"),
    }
    try:
        logits = _logits_loaded_by_hub_id(tmp_path, env)
    finally:
        server.shutdown()
    downloaded = {r.rsplit("/", 1)[-1] for r in handler.requests if r.startswith(f"GET /{HUB_ID}/resolve/")}
    assert {"config.json", "modeling_moltc.py", "model.safetensors", "processor_config.json"} <= downloaded
    assert not any("checkpoint-10" in r for r in handler.requests)
    torch.testing.assert_close(logits, _tiny_logits())
