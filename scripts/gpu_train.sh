#!/usr/bin/env bash
# Runs on the GPU device machine (prepare with scripts/gpu_kit.sh here first):
#   run(command="bash scripts/gpu_train.sh", carry=[".data", ".whl"], timeout_s=590)
# Trains the shipped recipe on the five cross-validation folds at once (one process per fold on the one
# GPU), then on all 2000 images with the calibration fitted on the folds' out-of-fold predictions, and
# packs into $OUT: runs.tgz (logs, held-out predictions, calibration, report tables and figures) and the
# promoted model split in 15 MB parts ($OUT takes files of 16 MiB at most):
#   cat shipped.pt.part-* > models/lesion_multitask.pt
# Every run resumes, so a second call carries on where a cut-off one stopped. EPOCHS, EXTRA (more
# training flags, e.g. "--cls-pooling lesion"), ROOT (where runs go, default runs) and SKIP_WHEELS=1 (a
# machine that has the packages) adjust it.
set -uo pipefail
export PYTHONUNBUFFERED=1
if [ -z "${SKIP_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
ROOT=${ROOT:-runs}
OUT=${OUT:-$ROOT/gpu_out}
EPOCHS=${EPOCHS:-40}
RUNS=$ROOT/report/efficientnet_lite0-multi
LOGS=$ROOT/gpu_logs
read -r -a COMMON <<< "--data .data/isic2017-256 --epochs $EPOCHS --batch-size 32 --workers 2 --seed 0 ${EXTRA:-}"
mkdir -p "$OUT" "$LOGS"
nvidia-smi -L 2>/dev/null || echo "no GPU visible"
started=$(date +%s)
pids=()
for k in 0 1 2 3 4; do
  python3 -m training.train "${COMMON[@]}" --folds 5 --fold "$k" --output "$RUNS/fold$k" --resume > "$LOGS/fold$k.log" 2>&1 &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { tail -c 600 "$LOGS"/fold*.log; exit 1; }
echo "5 folds: $(( $(date +%s) - started )) s"
python3 -m training.train "${COMMON[@]}" --fold -1 --output $ROOT/all --resume \
  --calibration-from "$RUNS"/fold{0..4} > $LOGS/all.log 2>&1 || { tail -n 20 $LOGS/all.log; exit 1; }
echo "5 folds + all data: $(( $(date +%s) - started )) s"
python3 -m training.promote $ROOT/all/best.pt --output $ROOT/all/shipped.pt || exit 1
python3 -m training.report --runs $ROOT/report --data .data/isic2017-256 --docs $ROOT/gpu_docs --encoders efficientnet_lite0 --tasks multi \
  --summarise-only || echo "report summary failed; the runs are still packed"
tar czf "$OUT/runs.tgz" "$LOGS" $ROOT/gpu_docs "$RUNS"/fold*/{log.csv,args.json,folds.json,calibration.json,held_out_predictions.npz} \
  $ROOT/all/{log.csv,args.json,calibration.json} 2>/dev/null
split -b 15m $ROOT/all/shipped.pt "$OUT/shipped.pt.part-"
ls -la "$OUT"
