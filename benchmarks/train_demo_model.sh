#!/usr/bin/env bash
# Train the small demo model that ships as src/zhclip/assets/demo_model.pt (the `demo` preset, fp16, ~8 MB)
# on the offline synthetic benchmark. About 15 minutes on 2 idle CPU cores; deterministic per seed. The recipe is
# the one benchmarks/distill_experiment.py uses for its `teacher-demo`.
#
#   benchmarks/train_demo_model.sh [WORK_DIR]      # default experiments/demo_model
set -euo pipefail
WORK=${1:-experiments/demo_model}
STEPS=${STEPS:-1000}
PY=${PY:-python}
ZH="$PY -m zhclip"

[ -f "$WORK/synth/synth.json" ] || $ZH data synth "$WORK/synth" --train 3000 --valid 300 --test 500 --seed 0
[ -d "$WORK/synth/lmdb/train" ] || $ZH data lmdb "$WORK/synth"
$ZH train --arch demo --data "$WORK/synth" --out "$WORK/run" --batch-size 128 --max-steps "$STEPS" --lr 2e-3 \
    --warmup 50 --wd 0.1 --init-logit-scale 5 --seed 0 --val-every 500 --log-every 10 --save-every 100 --save-epochs 0 \
    --no-hf --no-progress
$ZH eval retrieval --model "$WORK/run/checkpoints/epoch_latest.pt" --data "$WORK/synth" --split test \
    --out "$WORK/eval" --name demo_model
$PY - "$WORK/run/checkpoints/epoch_latest.pt" src/zhclip/assets/demo_model.pt <<'PYEOF'
import sys
from zhclip.models import read_weights, save_cnclip

weights = read_weights(sys.argv[1])  # weights only: no optimizer state in the shipped file
half = {k: v.half() for k, v in weights.state_dict.items()}
save_cnclip(half, weights.config, sys.argv[2], name="zhclip-demo")
print(f"wrote {sys.argv[2]}")
PYEOF
