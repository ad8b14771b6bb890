#!/usr/bin/env bash
# Start Triton on the lesion model repository with the network variant named by LESION_MODEL_CONFIG:
#   gpu_tensorrt     lesion_net/1/model.plan, built by export/build_engine_in_container.sh with this image
#   gpu_onnxruntime  ONNX Runtime with the TensorRT execution accelerator (engines built at model load)
# Extra arguments go to tritonserver. Missing files are reported before Triton starts.
set -euo pipefail
REPO=${LESION_MODEL_REPOSITORY:-/models}
CONFIG=${LESION_MODEL_CONFIG:-gpu_tensorrt}
NETWORK_DIR="$REPO/lesion_net/1"

fail() { echo "lesion-triton: $*" >&2; exit 2; }

case "$CONFIG" in
  gpu_tensorrt) needed=(model.plan) ;;
  gpu_onnxruntime) needed=(model.onnx) ;;
  *) fail "unknown LESION_MODEL_CONFIG '$CONFIG' (gpu_tensorrt or gpu_onnxruntime; the CPU variant is for" \
          "hosts without this container: make serve)" ;;
esac
for file in "${needed[@]}"; do
  [ -s "$NETWORK_DIR/$file" ] || fail "$NETWORK_DIR/$file is missing: run \`python -m export\`" \
    "(and export/build_engine_in_container.sh for model.plan) before building the image; docs/deployment.md"
done
[ -s "$REPO/postprocess/1/calibration.json" ] || fail "postprocess/1/calibration.json is missing: run \`python -m export\`"

args=(--model-repository="$REPO" --model-config-name="$CONFIG" --metrics-config=summary_latencies=true
      --exit-timeout-secs=10)
echo "lesion-triton: TensorRT ${TRT_VERSION:-?}, variant $CONFIG"
exec tritonserver "${args[@]}" "$@"
