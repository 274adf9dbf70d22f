#!/usr/bin/env bash
# One prepared training campaign for a lent GPU, sized to a fixed time (see training/README.md).
#
#   python -m training.data --pack .gpu/fer2013.npz.xz      # here: the data travels as one file
#   OUT=/tmp/campaign training/gpu_campaign.sh             # there
#
# Phase 1 trains the two teachers (vgg, resnet18) and the study's other families side by side;
# phase 2 trains the CPU-sized students, with and without distillation from both teachers, on
# the same budget so the comparison is fair; phase 3 evaluates every chosen checkpoint on both
# test splits. Each phase leaves its results under $OUT, so a run cut short still reports.
# Environment: PACK (data pack), OUT (results), RUNS (checkpoints), P1/P2 (seconds per phase),
# LIMIT (images per split, for a rehearsal on a CPU), REAL (the real-face training people,
# `python -m training.mixture --out .gpu/real_faces.npz` here: every job then trains on the
# mixture, REAL_SHARE of each batch, default 0.3; issue 22). P2=0 trains in one phase, without
# distillation (what a short lease affords): the two shippable sizes (cafenet, cafenet_wide),
# each with and without mixup, beside resnet18 and vgg, and brings back the four shippable
# models' weights (the device returns at most 8 files). The device command's timeout must
# exceed P1 + P2 + about 90 s (start-up and the evaluation at the end).
set -uo pipefail

PACK=${PACK:-.gpu/fer2013.npz.xz}
OUT=${OUT:?set OUT to the folder that receives the results}
RUNS=${RUNS:-/tmp/cafe-runs}
P1=${P1:-200}
P2=${P2:-180}
LIMIT=${LIMIT:-0}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUNS"
exec > >(tee -a "$OUT/campaign.log") 2>&1

echo "== $(date -u +%FT%TZ) campaign: P1=${P1}s P2=${P2}s pack=$PACK real=${REAL:-none}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
$PY -c "import torch, onnx, onnxruntime; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'onnx', onnx.__version__, 'ort', onnxruntime.__version__)" || exit 1

common=(--data "$PACK" --schedule cosine --batch-size 128 --lr 0.1 --epochs 400 --plot-every 10 --limit "$LIMIT"
        --threads "${THREADS:-4}")
REAL=${REAL:-}
if [ -n "$REAL" ]; then
    common+=(--real-faces "$REAL" --real-share "${REAL_SHARE:-0.3}")
fi

STUDENTS=" cafenet cafenet_wide cafenet_mixup cafenet_wide_mixup cafenet_kd cafenet_wide_kd cafenet_plain "
train() {  # name arch budget [extra args...]
    local name=$1 arch=$2 budget=$3
    shift 3
    # The trainer plans its epochs to end inside the budget; `timeout` is the backstop that
    # keeps one slow job from eating the whole lease (a lesson of the first lease).
    timeout --signal=INT $((budget + 45)) \
        $PY -m training.train --arch "$arch" --out "$RUNS/$name" --time-budget "$budget" "${common[@]}" "$@" \
        >"$RUNS/$name.log" 2>&1
    echo "-- $name finished (exit $?): $(grep -c '^epoch' "$RUNS/$name.log") epochs"
    tail -n 1 "$RUNS/$name.log"
    # Results leave as soon as each job ends, so a lease cut short still returns them.
    if [[ "$STUDENTS" == *" $name "* && -f "$RUNS/$name/best.pt" ]]; then
        # whole weights; a file over 15 MiB in parts (cat joins them)
        split -b 15M -d "$RUNS/$name/best.pt" "$OUT/$name.pt.part"
    fi
    report
}

jobs_started=()
spawn() {  # run a command in the background as part of this phase
    "$@" &
    jobs_started+=($!)
}
finish() {  # wait for this phase's jobs (a bare `wait` would also wait for the log's tee)
    wait "${jobs_started[@]}"
    jobs_started=()
}

evaluate() {  # run folder
    $PY -m training.evaluate --checkpoint "$1/best.pt" --data "$PACK" --split PublicTest --split PrivateTest \
        --out "$1/eval" >"$1/eval.log" 2>&1
}

report() {  # logs, curves and metrics of every run, no weights (written whole, then renamed)
    local tmp="$RUNS/results.$BASHPID.tmp"
    tar -czf "$tmp" -C "$RUNS" --exclude='*.pt' --exclude='*.tmp' . 2>/dev/null && mv "$tmp" "$OUT/results.tar.gz"
}

if (( P2 > 0 )); then
    echo "== phase 1: teachers and the study's families (${P1}s each, side by side)"
else
    echo "== one phase: every model side by side, ${P1}s each (no distillation)"
    spawn train cafenet cafenet "$P1"
    spawn train cafenet_wide cafenet_wide "$P1"
    spawn train cafenet_mixup cafenet "$P1" --mixup 0.2
    spawn train cafenet_wide_mixup cafenet_wide "$P1" --mixup 0.2
fi
spawn train vgg vgg "$P1"
spawn train resnet18 resnet18 "$P1"
if (( P2 > 0 )); then
    spawn train study_cnn study_cnn "$P1" --batch-size 64 --lr 0.05
    spawn train efficientnet_b0 efficientnet_b0 "$P1"
fi
finish
report

if (( P2 > 0 )); then
    echo "== phase 2: students (${P2}s each)"
    teachers=()
    for t in vgg resnet18; do
        [[ -f "$RUNS/$t/best.pt" ]] && teachers+=(--teacher "$RUNS/$t/best.pt")
    done
    spawn train cafenet_kd cafenet "$P2" "${teachers[@]}"
    spawn train cafenet_wide_kd cafenet_wide "$P2" "${teachers[@]}"
    spawn train cafenet_plain cafenet "$P2"
    finish
    report
fi

echo "== phase 3: every chosen checkpoint on both test splits"
for run in "$RUNS"/*/; do
    [[ -f "$run/best.pt" ]] || continue
    spawn evaluate "$run"
done
finish
for run in "$RUNS"/*/; do
    echo "-- $(basename "$run"): $(tr -d ' \n' <"$run/eval.log" 2>/dev/null)"
done
report
# The teacher, in half precision to fit what comes back, for later distillation.
(( P2 > 0 )) && [[ -f "$RUNS/vgg/best.pt" ]] && $PY -c "
import torch, sys
s = torch.load(sys.argv[1], map_location='cpu', weights_only=False)
s['model'] = {k: v.half() if v.is_floating_point() else v for k, v in s['model'].items()}
torch.save(s, sys.argv[2])" "$RUNS/vgg/best.pt" "$OUT/vgg_fp16.pt"
ls -la "$OUT"
echo "== $(date -u +%FT%TZ) done"
