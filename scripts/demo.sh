#!/usr/bin/env bash
# make demo: serve the default model on the local Triton, analyse one image, say what to do next.
set -euo pipefail
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data/isic2017-256}
OUT=runs/demo
mkdir -p "$OUT"
image="$DATA/ISIC-2017_Training_Data/ISIC_0000000.jpg"
if [ ! -f "$image" ]; then
  image="$OUT/synthetic_example.jpg"
  echo "no ISIC data at $DATA: analysing a synthetic example instead (not a real lesion)"
  "$PY" -c "from dashboard.example import synthetic_lesion_jpeg; open('$image', 'wb').write(synthetic_lesion_jpeg())"
fi
make --no-print-directory serve
"$PY" client/infer.py "$image" --out "$OUT"
cat <<MSG

The server keeps running on 127.0.0.1 (HTTP 8000, gRPC 8001, metrics 8002).
  mask and overlay:  $OUT/
  more images:       .venv/bin/python client/infer.py IMAGE_OR_DIR [--json] [--out DIR]
  dashboard:         make dashboard   -> http://127.0.0.1:8501
  stop the server:   make stop
MSG
