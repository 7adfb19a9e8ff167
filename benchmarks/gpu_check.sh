#!/usr/bin/env bash
# GPU check, for whoever has a CUDA machine (never part of `make test`; the default tests stay CPU-only):
# trains 50 steps in fp16 AMP and in bf16 AMP, a 2-process NCCL torchrun of training and of eval retrieval when
# two GPUs exist, evaluates on the test split, indexes a folder of images; then measures every GPU path of
# `zhclip bench encode` (PyTorch fp16/bf16, ONNX Runtime CUDA and TensorRT providers, TensorRT engines,
# torch-tensorrt, auto: speed, cosine to fp32, peak GPU memory) on ViT-B-16, ViT-H-14's peak GPU memory at fp16,
# and `zhclip index` on the GPU against MaterialSearch's way on the same GPU (benchmarks/gpu_index.py), writing
# their JSON to benchmarks/results/machines/<kind>/ for the results pages; and prints one summary table.
# Skips cleanly (exit 0) where torch sees no CUDA device.
#
#   bash benchmarks/gpu_check.sh [WORK_DIR]        # default: a temporary directory, removed at the end
#   PYTHON=.venv/bin/python ARCH=small STEPS=50 BATCH=64 bash benchmarks/gpu_check.sh
#   BENCH_ROUNDS=2 INDEX_IMAGES=200 BIG_ARCH=ViT-H-14 bash benchmarks/gpu_check.sh   # the measurement's sizes
# GPU_CHECK_ON_CPU=1 runs the same plumbing on the CPU (fp32 evaluation, one process; no GPU paths), to test it.
set -euo pipefail

PYTHON=${PYTHON:-python}
ARCH=${ARCH:-small}
STEPS=${STEPS:-50}
BATCH=${BATCH:-64}
SYNTH=(${SYNTH:-2000 200 300})
BENCH_ROUNDS=${BENCH_ROUNDS:-2}
INDEX_IMAGES=${INDEX_IMAGES:-200}
BIG_ARCH=${BIG_ARCH:-ViT-H-14}
DEVICE=cuda
EVAL_PRECISION=fp16

GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [[ -n "${GPU_CHECK_ON_CPU:-}" ]]; then
    GPUS=1 DEVICE=cpu EVAL_PRECISION=fp32
elif [[ "$GPUS" == "0" ]]; then
    echo "gpu_check: skipped (torch sees no CUDA device)"
    exit 0
fi

WORK=${1:-}
if [[ -z "$WORK" ]]; then
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"
ZHCLIP=("$PYTHON" -m zhclip)
TORCHRUN=("$PYTHON" -m torch.distributed.run --standalone --nproc_per_node 2 -m zhclip)
ROWS="$WORK/rows.tsv"
: >"$ROWS"

row() { # check, status, seconds, detail
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$ROWS"
}

timed() { # label, detail-command, command...: run, record ok/FAILED with wall time and a detail line
    local label=$1 detail=$2
    shift 2
    local start status=ok info="see $WORK/$label.log"
    start=$(date +%s%N)
    if ! "$@" >"$WORK/$label.log" 2>&1; then
        status=FAILED
    fi
    local tenths=$((($(date +%s%N) - start) / 100000000))
    if [[ "$status" == ok ]]; then
        info=$(eval "$detail" 2>/dev/null || echo "-")
    fi
    row "$label" "$status" "$((tenths / 10)).$((tenths % 10))" "$info"
}

summary_of() { # run dir -> "loss X, N samples/s, M MiB"
    "$PYTHON" -c "import json,sys; s=json.load(open(sys.argv[1]+'/summary.json'));
print(f\"final loss {s['final_loss']:.3f}, {s['samples_per_s']:.0f} samples/s, peak {s['peak_memory_mb']:.0f} MiB, {s['world_size']} process(es)\")" "$1"
}

recall_of() { # eval dir -> "MR t2i X / i2t Y"
    "$PYTHON" -c "import json,sys; d=sys.argv[1]; t=json.load(open(d+'/test_t2i_metrics.json'))['score'];
i=json.load(open(d+'/test_i2t_metrics.json'))['score']; s=json.load(open(d+'/retrieval_summary.json'));
print(f\"MR text->image {t:.2f}, image->text {i:.2f}; per rank {[(r['images'], r['texts']) for r in s['per_rank']]}\")" "$1"
}

DATA="$WORK/synth"
timed synth "echo ${SYNTH[0]}/${SYNTH[1]}/${SYNTH[2]} images" \
    "${ZHCLIP[@]}" data synth "$DATA" --train "${SYNTH[0]}" --valid "${SYNTH[1]}" --test "${SYNTH[2]}" --seed 0

TRAIN_FLAGS=(--arch "$ARCH" --data "$DATA" --device "$DEVICE" --batch-size "$BATCH" --max-steps "$STEPS" --lr 1e-3 --warmup 10
    --init-logit-scale 5 --val-every "$STEPS" --log-every 10 --no-progress --no-hf)
for precision in amp bf16; do
    timed "train-$precision" "summary_of $WORK/train-$precision" \
        "${ZHCLIP[@]}" train --precision "$precision" --out "$WORK/train-$precision" "${TRAIN_FLAGS[@]}"
done

CKPT="$WORK/train-bf16/checkpoints/epoch_latest.pt"
timed eval-fp16 "recall_of $WORK/eval-fp16" \
    "${ZHCLIP[@]}" eval retrieval --model "$CKPT" --data "$DATA" --split test --precision "$EVAL_PRECISION" \
    --device "$DEVICE" --out "$WORK/eval-fp16"

if [[ "$GPUS" -ge 2 ]]; then
    timed torchrun-train "summary_of $WORK/torchrun-train" \
        "${TORCHRUN[@]}" train --precision amp --out "$WORK/torchrun-train" "${TRAIN_FLAGS[@]}"
    timed torchrun-eval "recall_of $WORK/torchrun-eval" \
        "${TORCHRUN[@]}" eval retrieval --model "$CKPT" --data "$DATA" --split test --precision fp16 \
        --out "$WORK/torchrun-eval"
    if cmp -s "$WORK/eval-fp16/test_predictions.jsonl" "$WORK/torchrun-eval/test_predictions.jsonl"; then
        row torchrun-eval-equal ok 0 "predictions byte-identical to one process"
    else
        row torchrun-eval-equal DIFFERENT 0 "predictions differ from one process (fp16 kernels per batch?)"
    fi
else
    row torchrun "skipped" 0 "one GPU visible; the 2-process NCCL check needs two"
fi

FOLDER="$WORK/photos"
"$PYTHON" - "$DATA/test_imgs.tsv" "$FOLDER" <<'EOF'
import base64, sys
from pathlib import Path
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for line in Path(sys.argv[1]).read_text().splitlines()[:200]:
    image_id, data = line.split("\t")
    (out / f"{image_id}.jpg").write_bytes(base64.b64decode(data))
EOF
timed index "echo 200 photos" "${ZHCLIP[@]}" index "$FOLDER" --db "$WORK/library.db" --model "$CKPT" \
    --device "$DEVICE" --precision "$EVAL_PRECISION" --no-progress
timed search "head -c 200 $WORK/search.log | tr '\n' ' '" "${ZHCLIP[@]}" search 红色的圆形 --db "$WORK/library.db" \
    --device "$DEVICE"

gpu_rows_of() { # results file -> "path: img/s, query ms, cosine, GPU MiB" per GPU row
    "$PYTHON" -c "import json,sys; rows=json.load(open(sys.argv[1]))['rows'];
print('; '.join(f\"{r['path']}: \" + (r['error'][:60] if 'error' in r else f\"{r['image_b32_per_s']:.0f} img/s, \"
f\"query {r['query_p50_ms']:.1f} ms, cos {r['fidelity']:.4f}, GPU {r.get('gpu_peak_mb') or 0:.0f} MiB\")
for r in rows if r['path'].startswith('gpu')))" "$1"
}

GPU_PATHS=$("$PYTHON" -c "from zhclip.bench.gpu import gpu_paths; print(','.join(gpu_paths()))")
if [[ -n "$GPU_PATHS" ]]; then
    RESULTS_DIR=$("$PYTHON" -m benchmarks.results_json bench-encode | xargs dirname)
    mkdir -p "$RESULTS_DIR"
    timed bench-encode-gpu "gpu_rows_of $RESULTS_DIR/bench-encode.json" \
        "${ZHCLIP[@]}" bench encode --random-arch ViT-B-16 --precision "$GPU_PATHS" --rounds "$BENCH_ROUNDS" \
        --json "$RESULTS_DIR/bench-encode.json"
    timed "memory-$BIG_ARCH" "gpu_rows_of $RESULTS_DIR/bench-encode-$BIG_ARCH.json" \
        "${ZHCLIP[@]}" bench encode --random-arch "$BIG_ARCH" --quick --rounds 1 \
        --precision gpu-torch-fp16,gpu-onnxruntime-fp16,gpu-tensorrt-fp16 --json "$RESULTS_DIR/bench-encode-$BIG_ARCH.json"
    timed gpu-index "tail -n 6 $WORK/gpu-index.log | head -n 4 | cut -c1-160 | tr '\n' ' '" \
        "$PYTHON" benchmarks/gpu_index.py --images "$INDEX_IMAGES"
else
    row gpu-paths skipped 0 "no CUDA device: bench encode's GPU paths and gpu_index.py need one"
fi

echo
"$PYTHON" -c "import torch; on = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU';
print('GPU check on', on, 'x', torch.cuda.device_count(), 'torch', torch.__version__)"
printf '%-22s %-10s %8s  %s\n' check status seconds detail
while IFS=$'\t' read -r check status seconds detail; do
    printf '%-22s %-10s %8s  %s\n' "$check" "$status" "$seconds" "$detail"
done <"$ROWS"
! grep -q $'\tFAILED\t' "$ROWS"
