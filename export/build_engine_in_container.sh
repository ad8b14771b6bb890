#!/usr/bin/env bash
# Build lesion_net's TensorRT FP16 engine (model.plan) with the TensorRT of the very Triton container that
# will serve it: an engine only loads in a Triton whose TensorRT version built it (docs/serving.md).
#
#   export/build_engine_in_container.sh [TRITON_IMAGE]
#
# TRITON_IMAGE  default nvcr.io/nvidia/tritonserver:24.10-py3 (Triton 2.51, TensorRT 10.5)
# REPOSITORY    model repository holding lesion_net/1/model.onnx (default: model_repository)
# MAX_BATCH     largest batch of the optimisation profile; must equal max_batch_size (default 16)
# PARITY        1 (default): compare the built engine with ONNX Runtime on the same inputs (polygraphy,
#               installed into the throwaway container when missing); a failure keeps no engine. 0: skip
# Needs docker with the NVIDIA Container Toolkit and model.onnx from `python -m export`.
set -euo pipefail

IMAGE=${1:-${TRITON_IMAGE:-nvcr.io/nvidia/tritonserver:24.10-py3}}
REPOSITORY=$(realpath "${REPOSITORY:-model_repository}")
MAX_BATCH=${MAX_BATCH:-16}
PARITY=${PARITY:-1}
VERSION_DIR="$REPOSITORY/lesion_net/1"

if [[ ! -f "$VERSION_DIR/model.onnx" ]]; then
  echo "error: $VERSION_DIR/model.onnx is missing: run \`python -m export\` first" >&2
  exit 2
fi
if ! command -v docker >/dev/null; then
  echo "error: docker is not installed; build on the GPU host that runs Triton, or run" \
       "\`python -m export.tensorrt\` inside a container with the same TensorRT version" >&2
  exit 2
fi

echo "building $VERSION_DIR/model.plan with the TensorRT of $IMAGE (FP16, batch 1..$MAX_BATCH)"
docker run --rm --gpus all -e MAX_BATCH="$MAX_BATCH" -e PARITY="$PARITY" \
  -v "$VERSION_DIR:/engine" "$IMAGE" bash -euo pipefail -c '
    TRTEXEC=$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)
    if [[ ! -x "$TRTEXEC" ]]; then echo "error: no trtexec in this image" >&2; exit 2; fi
    trap "rm -f /engine/model.plan.tmp" ERR
    SHAPE=3x256x256
    "$TRTEXEC" --onnx=/engine/model.onnx --saveEngine=/engine/model.plan.tmp --fp16 \
      --minShapes=image:1x$SHAPE --optShapes=image:$((MAX_BATCH / 2))x$SHAPE \
      --maxShapes=image:${MAX_BATCH}x$SHAPE --memPoolSize=workspace:2048M --skipInference | tee /tmp/trtexec.log
    TRT_VERSION=$(grep -oP "TensorRT version: \K[0-9.]+" /tmp/trtexec.log | head -1 || true)
    echo "built with TensorRT ${TRT_VERSION:-(version not printed)}"
    if [[ "$PARITY" == 1 ]]; then
      command -v polygraphy >/dev/null || pip install -q polygraphy onnxruntime
      # the Python bindings must match the TensorRT version of this image, or the engine will not load
      python3 -c "import tensorrt" 2>/dev/null || pip install -q "tensorrt-cu12==${TRT_VERSION:?}"
      # FP16 tolerance of export/parity.py (TENSORRT_FP16_TOLERANCE): |diff| of probabilities <= 2e-2
      polygraphy run /engine/model.onnx --onnxrt --input-shapes image:[4,3,256,256] \
        --save-inputs /tmp/inputs.json --save-outputs /tmp/onnxruntime.json
      polygraphy run /engine/model.plan.tmp --model-type engine --trt --load-inputs /tmp/inputs.json \
        --load-outputs /tmp/onnxruntime.json --atol 2e-2 --rtol 0 --check-error-stat max
    fi
    mv /engine/model.plan.tmp /engine/model.plan
  '
echo "wrote $VERSION_DIR/model.plan; serve it with: tritonserver --model-config-name=gpu_tensorrt ..."
