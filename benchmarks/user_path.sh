#!/usr/bin/env bash
# The user's path on files the model never saw, with the files' own split (issue 25): DeepDDI's `DeepDDI_train.csv`
# becomes a user config with `moltc build-dataset --data-path`, the shipped chain `tiny-pretrained-pipeline` trains on
# it (GIN on MOSES -> ChEMBL property stage -> fine-tuning), `moltc predict` answers DeepDDI's own `DeepDDI_test.csv`,
# and `benchmarks/user_path_score.py` scores those answers beside the per-drug prior and a Morgan LR fitted on the
# same train file and scored on the same test rows. Only `moltc` commands touch the model.
#
#   RAW=../shared/data/raw bash benchmarks/user_path.sh          # CPU: ~40 min at 1 thread
#   STEPS=300 TEST_ROWS=2000 bash benchmarks/user_path.sh        # shorter
set -euo pipefail
RAW=${RAW:-../shared/data/raw}
OUT=${OUT:-runs/user-deepddi}
STEPS=${STEPS:-}                    # empty: each stage's own max_steps
TEST_ROWS=${TEST_ROWS:-}            # empty: the whole test file
SEED=${SEED:-0}
export MOLTC_RAW_DIR=$RAW OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1
mkdir -p "$OUT"
test_file=$RAW/DeepDDI/DeepDDI_test.csv
if [ -n "$TEST_ROWS" ]; then  # a seeded sample of the test file (it is sorted by label)
    python -c "import pandas as pd,sys; pd.read_csv(sys.argv[1]).sample(n=int(sys.argv[2]), random_state=$SEED)\
.to_csv(sys.argv[3], index=False)" "$test_file" "$TEST_ROWS" "$OUT/test.csv"
    test_file=$OUT/test.csv
fi
date
[ -d "$OUT/data/pretrain" ] || moltc build-dataset --source pretrain --out "$OUT/data" --no-progress
[ -d "$OUT/data/deepddi_user" ] || moltc build-dataset --data-path "$RAW/DeepDDI/DeepDDI_train.csv" \
    --smiles-columns smiles_1 smiles_2 --target-column label --kind ddi_binary --name deepddi_user \
    --seed "$SEED" --out "$OUT/data" --no-progress
date
moltc train --recipe tiny-pretrained-pipeline --dataset "$OUT/data" --config deepddi_user \
    --output-dir "$OUT/model" --seed "$SEED" ${STEPS:+--max-steps $STEPS} --resume
date
moltc predict --model "$OUT/model/final" --input "$test_file" --smiles-columns smiles_1 smiles_2 \
    --output "$OUT/predictions.parquet" --device cpu --resume
date
python benchmarks/user_path_score.py --train "$RAW/DeepDDI/DeepDDI_train.csv" --test "$test_file" \
    --predictions "$OUT/predictions.parquet" --out "$OUT/score.json"
date
