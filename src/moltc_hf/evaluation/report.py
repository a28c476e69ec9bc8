"""Write and print an evaluation report: ``metrics.json``, predictions, rejects, plots and a terminal table.

Kept apart from `evaluate` (which runs the model and computes the report) so that producing numbers and
presenting them are separate steps; matplotlib loads only with this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_file_atomically
from ..rejects import write_rejects
from ..tasks.registry import CLASSIFICATION, REGRESSION, get_task
from . import plots
from .evaluate import class_probabilities


def json_ready(value):
    """Plain JSON values (NaN/inf -> null, numpy scalars -> Python) for metrics files."""
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_report(report: dict, out_dir: str | Path) -> list[Path]:
    """``metrics.json``, ``predictions.parquet``, ``rejects.parquet`` and PNG plots; returns the paths.

    Every file is written under a temporary name and renamed, and ``metrics.json`` comes last: a folder with a
    ``metrics.json`` holds a whole report, and a kill or full disk never leaves a half-written file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = get_task(report["task"])
    summary = {k: v for k, v in report.items() if not isinstance(v, pd.DataFrame)}
    paths = [out_dir / "metrics.json", out_dir / "predictions.parquet", out_dir / "rejects.parquet"]
    metrics_text = json.dumps(json_ready(summary), indent=2, allow_nan=False) + "\n"
    _write(paths[1], lambda tmp: report["predictions"].to_parquet(tmp, index=False))
    write_rejects(report["rejects"].to_dict("records"), paths[2], "evaluate")
    paths += _write_plots(report, spec, out_dir)
    _write(paths[0], lambda tmp: tmp.write_text(metrics_text))
    return paths


def quantity_of(spec) -> str:
    """What a regression task's values are, for axis labels: its title without the unit ("Solvation free energy
    ΔG (kcal/mol)" -> "solvation free energy ΔG"), else its name."""
    title = spec.title or spec.name.replace("_", " ")
    if spec.unit:
        title = title.removesuffix(f" ({spec.unit})")
    return title[:1].lower() + title[1:]


def _write_plots(report: dict, spec, out_dir: Path) -> list[Path]:
    """The task's plots (ROC / reliability / confusion, or parity), each written atomically."""
    predictions = report["predictions"]
    if not len(predictions):
        return []
    y_true = predictions["y_true"].to_numpy(float)
    paths = []
    if spec.kind == CLASSIFICATION:
        num_classes = len(report["candidates"])
        y_true = y_true.astype(int)
        y_pred = predictions["label"].to_numpy(int)
        probabilities = class_probabilities(predictions, num_classes)
        if probabilities is not None:
            paths.append(
                _write(
                    out_dir / "roc.png",
                    lambda tmp: plots.roc_plot(y_true, probabilities, tmp, title=f"ROC: {spec.name}"),
                )
            )
        confidence = predictions["probability"].to_numpy(float)
        paths.append(
            _write(
                out_dir / "reliability.png",
                lambda tmp: plots.reliability_plot(confidence, y_true == y_pred, tmp),
            )
        )
        paths.append(
            _write(
                out_dir / "confusion.png", lambda tmp: plots.confusion_plot(y_true, y_pred, num_classes, tmp)
            )
        )
    elif spec.kind == REGRESSION:
        values = predictions["value"].to_numpy(float)
        paths.append(
            _write(
                out_dir / "parity.png",
                lambda tmp: plots.parity_plot(
                    y_true, values, tmp, title=spec.name, unit=spec.unit, quantity=quantity_of(spec)
                ),
            )
        )
    return paths


def format_report(report: dict) -> str:
    """A plain table of the metrics (and order consistency / references) for the terminal."""
    lines = [
        f"task: {report['task']}   mode: {report['mode']}   rows: {report['num_rows']}   rejected: {report['num_rejected']}"
    ]
    entries = [(k, v) for k, v in report["metrics"].items()]
    if report.get("order_consistency"):
        for key, value in report["order_consistency"].items():
            if isinstance(value, dict):  # the symmetric readout's own metrics
                entries += [(f"order_consistency.{key}.{k}", v) for k, v in value.items()]
            else:
                entries.append((f"order_consistency.{key}", value))
    if report.get("calibration"):
        entries += [(f"calibrated.{k}", v) for k, v in report["calibration"].items()]
    for name, values in report.get("references", {}).items():
        entries += [(f"{name}.{k}", v) for k, v in values.items()]
    width = max(len(k) for k, _ in entries)
    lines.append(f"{'metric':<{width}}  value")
    lines.append(f"{'-' * width}  ----------")
    for key, value in entries:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)


JOINT_COLUMNS = {
    CLASSIFICATION: ("accuracy", "macro_f1", "auroc"),
    REGRESSION: ("rmse", "mae", "r2", "unparseable_rate"),
}


def format_joint_table(reports: Mapping[str, dict]) -> str:
    """One table over the configs a (jointly trained) model was evaluated on: config, task, rows and each
    task kind's headline metrics (a metric another kind has no use for is left blank)."""
    kinds = {config: get_task(report["task"]).kind for config, report in reports.items()}
    metrics = [
        m for kind in (CLASSIFICATION, REGRESSION) if kind in kinds.values() for m in JOINT_COLUMNS[kind]
    ]
    header = ["config", "task", "rows", "rejected", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for config, report in reports.items():
        values = [
            f"{report['metrics'][m]:.4f}" if isinstance(report["metrics"].get(m), float) else ""
            for m in metrics
        ]
        cells = [config, report["task"], str(report["num_rows"]), str(report["num_rejected"]), *values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def joint_summary(reports: Mapping[str, dict]) -> dict:
    """``summary.json`` of a multi-config evaluation: per config its task, row counts and metrics."""
    return json_ready(
        {
            config: {k: report[k] for k in ("task", "num_rows", "num_rejected", "metrics")}
            for config, report in reports.items()
        }
    )


__all__ = ["format_joint_table", "format_report", "joint_summary", "json_ready", "write_report"]


def _write(path: Path, write) -> Path:
    """`write_file_atomically`, the partial file keeping the suffix: matplotlib and pandas pick the format by it."""
    return write_file_atomically(path, write, keep_suffix=True)
