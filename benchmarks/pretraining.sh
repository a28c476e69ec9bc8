#!/usr/bin/env bash
# Pretrained parts, measured: the tiny GIN pretrained on MOSES (attribute masking + GraphCL), property pretraining
# (stage 1, graph-only prompts) on ChEMBL drugs or on MOSES molecules, with or without that GIN, each fine-tuned
# with `tiny-finetune` on the same rows as the references (`benchmarks/quality.py`, fixed steps, seeds).
#
#   RAW=../shared/data/raw bash benchmarks/pretraining.sh            # everything below, in order (CPU: hours)
#   STEPS=600 SEEDS="0 1 2" TASKS="chchminer-cold freesolv" bash benchmarks/pretraining.sh
#
# Rows of the result (runs/pretraining/quality.json and the printed table):
#   from s1-chembl      today's tiny-pipeline (stage 1 on ~2,600 ChEMBL drugs, random GIN)
#   from s1-chembl-gin  + pretrained GIN
#   from s1-moses       + MOSES property stage (100k molecules)
#   from s1-moses-gin   both
set -euo pipefail
RAW=${RAW:-../shared/data/raw}
OUT=${OUT:-runs/pretraining}
STEPS=${STEPS:-600}
SEEDS=${SEEDS:-0 1 2}
TASKS=${TASKS:-chchminer-cold deepddi-cold freesolv compsol compsol-cold}
export MOLTC_RAW_DIR=$RAW OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT/recipes"

# 1. the GIN (1,500 x 256 molecules; its curve and cost are in $OUT/gin/final/pretraining.json)
[ -d "$OUT/gin/final" ] || moltc pretrain-graph --raw-dir "$RAW" --out "$OUT/gin" --max-steps 1500 --resume
# 2. stage-1 data: ChEMBL drug pairs (today's) and MOSES molecule pairs
[ -d "$OUT/data/chembl" ] || moltc build-dataset --source pretrain --out "$OUT/data/chembl" --no-progress
[ -d "$OUT/data/moses" ] || moltc build-dataset --source moses --raw-dir "$RAW" --out "$OUT/data/moses" \
    --pretrain-pairs 100000 --no-progress
# 3. stage 1 (tiny-property-pretrain's 1,500 steps), with and without the pretrained GIN
for data in chembl moses; do
    recipe=tiny-property-pretrain; [ $data = moses ] && recipe=tiny-moses-property-pretrain
    for gin in "" "-gin"; do
        name=s1-$data$gin
        file=$OUT/recipes/$name.yaml
        python -c "import yaml,sys; from moltc_hf.training import load_recipe; r=load_recipe('$recipe').to_dict(); \
r.update(name='$name', graph_encoder=sys.argv[1] or None); print(yaml.safe_dump(r))" \
            "${gin:+$OUT/gin/final}" > "$file"
        [ -d "$OUT/$name/final" ] || moltc train --recipe "$file" --dataset "$OUT/data/$data" --output-dir "$OUT/$name"
    done
done
# 4. fine-tuning from each stage-1 model beside the references, on the same test rows
python benchmarks/quality.py --out "$OUT/quality" --steps "$STEPS" --seeds $SEEDS --tasks $TASKS --variants full \
    --start-model s1-chembl="$OUT/s1-chembl/final" s1-chembl-gin="$OUT/s1-chembl-gin/final" \
    s1-moses="$OUT/s1-moses/final" s1-moses-gin="$OUT/s1-moses-gin/final"
