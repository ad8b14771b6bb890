#!/usr/bin/env bash
# Start Triton on the lesion model repository with the network variant named by LESION_MODEL_CONFIG:
#   gpu_tensorrt     TensorRT engine, built here on first start by this container's TensorRT and cached
#                    in $LESION_ENGINE_CACHE keyed by TensorRT version and ONNX checksum;
#   gpu_onnxruntime  ONNX Runtime with the TensorRT execution accelerator (engines built at load);
#   default          the CPU python-backend variant (config.pbtxt).
# Extra arguments are passed to tritonserver.
set -euo pipefail
REPO=${LESION_MODEL_REPOSITORY:-/models}
CONFIG=${LESION_MODEL_CONFIG:-gpu_tensorrt}
NETWORK_DIR="$REPO/lesion_net/1"

build_engine() {
  local onnx="$NETWORK_DIR/model.onnx"
  local key
  key="trt-${TRT_VERSION:-unknown}-$(sha256sum "$onnx" | cut -c1-16)"
  local cached="${LESION_ENGINE_CACHE:-/engines}/$key/model.plan"
  if [ ! -s "$cached" ]; then
    echo "lesion-triton: building the TensorRT engine ($key); this takes a few minutes once"
    mkdir -p "$(dirname "$cached")"
    bash /opt/lesion/export/build_engine_in_container.sh "$onnx" "$cached.tmp"
    mv "$cached.tmp" "$cached"
  fi
  ln -sf "$cached" "$NETWORK_DIR/model.plan"
}

case "$CONFIG" in
  gpu_tensorrt) build_engine ;;
  gpu_onnxruntime|default) ;;
  *) echo "lesion-triton: unknown LESION_MODEL_CONFIG '$CONFIG' (gpu_tensorrt, gpu_onnxruntime, default)" >&2; exit 2 ;;
esac

args=(--model-repository="$REPO" --metrics-config summary_latencies=true --exit-timeout-secs=10)
[ "$CONFIG" != default ] && args+=(--model-config-name="$CONFIG")
exec tritonserver "${args[@]}" "$@"
