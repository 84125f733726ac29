#!/usr/bin/env bash
# Every GPU measurement the kit's constants and README rely on, as one script for a machine lent for
# minutes (one NVIDIA GPU, the kit's data file in place, torch with CUDA installed):
#
#   bash benchmarks/gpu_session.sh [OUT_DIR]      # default ./gpu-out; about 6 minutes on an H200,
#                                                 # plus up to 7 for grade -m gpt (not yet timed)
#
# The trainings are bound by the CPU core that launches their kernels, not by the GPU, and a lent
# machine's commands may see only one or two cores (seen: `nproc` 1 and 2 on a 16-core H200 host), so
# at most two run at once. Each line a run prints is logged as it comes: a run cut short still tells.
# Logs go to /tmp/gpu-session-logs/ and, every 15 s and at the end, into OUT_DIR/logs.tgz.
set -u
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-gpu-out}}
LOGS=/tmp/gpu-session-logs
rm -rf "$LOGS" && mkdir -p "$LOGS" "$OUT_DIR"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=${PYTHON:-python3}

note() { echo "[$(date +%T)] $*" | tee -a "$LOGS/session.log"; }
snapshot() { tar -czf "$OUT_DIR/.logs.tgz" -C "$LOGS" . 2>/dev/null && mv "$OUT_DIR/.logs.tgz" "$OUT_DIR/logs.tgz"; }
timed() {  # timed NAME SECONDS CMD...: run with a time limit; log its output, exit code and wall time
    local name=$1 limit=$2; shift 2
    local start; start=$(date +%s%N)
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    note "$name: exit $?, $(( ($(date +%s%N) - start) / 1000000 )) ms wall"
}
(while sleep 15; do snapshot; done) &
SNAPSHOTS=$!

note "start"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $PY -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'python', sys.version.split()[0])"
  echo "nproc $(nproc)"; } >"$LOGS/env.txt" 2>&1

# Two submissions for grade: the reference and a Block with no residuals.
$PY - <<'PYEOF' >"$LOGS/make_submissions.log" 2>&1
from pathlib import Path
from tests.kit import make_variant
from tests.variants import all_variants
subs = Path("/tmp/gpu-subs"); subs.mkdir(exist_ok=True)
make_variant(subs, "correct", {})
make_variant(subs, "no_residuals", {v.name: v for v in all_variants()}["block-no-residuals"].edits)
PYEOF

note "the GPU checks and the calibration (two at a time)"
timed pytest_gpu 240 $PY -m pytest --impl solutions -m gpu --require-gpu --device cuda -ra \
    --junitxml="$LOGS/pytest_gpu.xml" & FIRST=$!
timed calibrate_seed1 240 $PY benchmarks/gpu_calibrate.py --seed 1 & SECOND=$!
wait $FIRST $SECOND
timed calibrate_seed2 240 $PY benchmarks/gpu_calibrate.py --seed 2 & FIRST=$!
timed calibrate_no_residuals 240 $PY benchmarks/gpu_calibrate.py --variant block-no-residuals --curve-every 1000 &
SECOND=$!
wait $FIRST $SECOND
snapshot

note "grade --device cuda: the same verdicts as on the CPU (no training checks: -m gpt would train)"
timed grade_cuda 180 $PY -m grader grade /tmp/gpu-subs --out "$LOGS/grades_cuda" --device cuda --jobs 2 \
    -m head -m multihead -m block
snapshot

note "grade --device cuda -m gpt: the GPU checks judged apart (the lecture's model trains in the child, the judge"
note "measures its weights on the GPU); never run on a GPU before: see grades_cuda_gpt/grades.csv and results.json"
timed grade_cuda_gpt 420 $PY -m grader grade /tmp/gpu-subs/correct --out "$LOGS/grades_cuda_gpt" --device cuda -m gpt
snapshot

note "timings, alone"
timed train_lecture_fast 150 $PY -m grader train --impl solutions --config lecture-fast --device cuda \
    --eval-interval 250 --out /tmp/lf --sample-tokens 300
timed bench 120 $PY -m grader bench --json
timed train_lecture 200 $PY -m grader train --impl solutions --config lecture --device cuda --out /tmp/lc \
    --sample-tokens 0
note "done"
kill $SNAPSHOTS 2>/dev/null
snapshot
