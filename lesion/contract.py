"""The I/O contract of the served models, stated once.

Every stage imports these names: training (network outputs), export (ONNX tensor names), the Triton
model configs (checked by tests), the python-backend models, the client and the dashboard.
Shapes exclude the batch dimension; -1 marks a variable size.
"""
from __future__ import annotations

from dataclasses import dataclass

INPUT_SIZE = 256
LABELS = ("melanoma", "seborrheic_keratosis")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # Triton datatype name: FP32, UINT8, INT32, BOOL, BYTES
    shape: tuple[int, ...]

    @property
    def config_dtype(self) -> str:
        """The spelling config.pbtxt uses (TYPE_FP32, TYPE_STRING for BYTES)."""
        return "TYPE_STRING" if self.dtype == "BYTES" else f"TYPE_{self.dtype}"


@dataclass(frozen=True)
class ModelContract:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


# The network: normalised image in, probabilities out (sigmoid applied inside the exported graph).
IMAGE = TensorSpec("image", "FP32", (3, INPUT_SIZE, INPUT_SIZE))
MASK_PROBABILITY = TensorSpec("mask", "FP32", (1, INPUT_SIZE, INPUT_SIZE))
MELANOMA = TensorSpec("melanoma", "FP32", (1,))
SEBORRHEIC_KERATOSIS = TensorSpec("seborrheic_keratosis", "FP32", (1,))

# Between preprocessing and postprocessing.
ORIGINAL_SIZE = TensorSpec("original_size", "INT32", (2,))  # (height, width) after EXIF rotation

# The pipeline a client calls: encoded bytes in, everything a user needs out.
IMAGE_BYTES = TensorSpec("IMAGE_BYTES", "BYTES", (1,))
MASK = TensorSpec("MASK", "UINT8", (-1, -1))  # 0 or 255, at the original size
MELANOMA_PROBABILITY = TensorSpec("MELANOMA_PROBABILITY", "FP32", (1,))
SEBORRHEIC_KERATOSIS_PROBABILITY = TensorSpec("SEBORRHEIC_KERATOSIS_PROBABILITY", "FP32", (1,))
MELANOMA_DECISION = TensorSpec("MELANOMA_DECISION", "BOOL", (1,))
SEBORRHEIC_KERATOSIS_DECISION = TensorSpec("SEBORRHEIC_KERATOSIS_DECISION", "BOOL", (1,))

NETWORK = ModelContract(
    "lesion_net", (IMAGE,), (MASK_PROBABILITY, MELANOMA, SEBORRHEIC_KERATOSIS)
)
PREPROCESS = ModelContract("preprocess", (IMAGE_BYTES,), (IMAGE, ORIGINAL_SIZE))
POSTPROCESS = ModelContract(
    "postprocess",
    (MASK_PROBABILITY, MELANOMA, SEBORRHEIC_KERATOSIS, ORIGINAL_SIZE),
    (
        MASK,
        MELANOMA_PROBABILITY,
        SEBORRHEIC_KERATOSIS_PROBABILITY,
        MELANOMA_DECISION,
        SEBORRHEIC_KERATOSIS_DECISION,
    ),
)
PIPELINE = ModelContract("lesion_pipeline", (IMAGE_BYTES,), POSTPROCESS.outputs)

MODELS = (NETWORK, PREPROCESS, POSTPROCESS, PIPELINE)
