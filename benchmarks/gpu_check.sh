#!/usr/bin/env bash
# One short GPU check (< 6 minutes on an H100/H200, no network): bf16 SFTTrainer steps at the
# galactica-1.3b shape (random init from hub_configs, LoRA on, projectors untied), peak memory, tokens/s,
# s/step, MFU, then a beam-search generate(). Writes $OUT/gpu_check.json when $OUT is set.
# Extra arguments go to benchmarks/gpu_check.py (e.g. --batch-size 8 --gradient-checkpointing).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="${PWD}/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
timeout 540 python benchmarks/gpu_check.py "$@"
