#!/usr/bin/env bash
# One short GPU check (< 9 minutes on an H100/H200, no network): bf16 SFTTrainer steps at the
# galactica-1.3b shape (random init from hub_configs, LoRA on, projectors untied), MolTC vs the same LLM on text
# alone, padded vs padding-free, with and without the speed levers (--levers), peak memory, tokens/s, s/step, MFU,
# a beam-search generate(), then one-vs-many screening in bf16. Writes $OUT/gpu_check.json when $OUT is set.
# Extra arguments go to benchmarks/gpu_check.py (e.g. --batch-size 256 --layouts padding-free --levers all).
# --dry-run: the same code on the CPU at the tiny shape (1+1 steps of batch 4, a 16-drug screen), for CI.
# Runs from a fresh clone (PYTHONPATH=src: the package reads the checkout's hub_configs/) or an install;
# PYTHON picks the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="${PWD}/src${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python}"
if [[ " $* " == *" --dry-run "* ]]; then
    "$PYTHON" -c "import torch; print('torch', torch.__version__, '(dry run on the CPU)')"
else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
fi
timeout 540 "$PYTHON" benchmarks/gpu_check.py "$@"
