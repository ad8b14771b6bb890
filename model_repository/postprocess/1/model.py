"""Triton python backend: network probabilities -> mask at original size, calibrated probabilities, decisions.

Contract (lesion.contract.POSTPROCESS): mask FP32 [1,256,256], melanoma FP32 [1],
seborrheic_keratosis FP32 [1], original_size INT32 [2] -> MASK UINT8 [-1,-1] (0/255),
MELANOMA_PROBABILITY / SEBORRHEIC_KERATOSIS_PROBABILITY FP32 [1], *_DECISION BOOL [1].
The calibration (calibration.json beside this file) is written by `python -m export` from the checkpoint.
All images of one request must share their original size (one MASK tensor per request).
"""
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from lesion.calibration import Calibration
from lesion.contract import (
    MASK,
    MASK_PROBABILITY,
    MELANOMA,
    MELANOMA_DECISION,
    MELANOMA_PROBABILITY,
    ORIGINAL_SIZE,
    SEBORRHEIC_KERATOSIS,
    SEBORRHEIC_KERATOSIS_DECISION,
    SEBORRHEIC_KERATOSIS_PROBABILITY,
)
from lesion.preprocessing import mask_to_original_size

# network output -> (calibrated probability output, decision output)
LABEL_OUTPUTS = {
    MELANOMA.name: (MELANOMA_PROBABILITY.name, MELANOMA_DECISION.name),
    SEBORRHEIC_KERATOSIS.name: (SEBORRHEIC_KERATOSIS_PROBABILITY.name, SEBORRHEIC_KERATOSIS_DECISION.name),
}


def _input(request, name):
    return pb_utils.get_input_tensor_by_name(request, name).as_numpy()


class TritonPythonModel:
    def initialize(self, args):
        path = Path(args["model_repository"]) / args["model_version"] / "calibration.json"
        if not path.is_file():
            raise pb_utils.TritonModelException(f"{path} is missing: run `python -m export` first")
        self.calibration = Calibration.load(path)

    def execute(self, requests):
        return [self._respond(request) for request in requests]

    def _respond(self, request):
        sizes = _input(request, ORIGINAL_SIZE.name)
        if len({tuple(size) for size in sizes}) > 1:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError("images of different sizes in one request: send one image per request")
            )
        probabilities = _input(request, MASK_PROBABILITY.name)
        masks = np.stack([mask_to_original_size(p[0], tuple(s)) for p, s in zip(probabilities, sizes)])
        tensors = [pb_utils.Tensor(MASK.name, masks)]
        for label, (probability_name, decision_name) in LABEL_OUTPUTS.items():
            calibration = self.calibration.labels[label]
            probability = calibration.probability(_input(request, label))
            tensors.append(pb_utils.Tensor(probability_name, probability))
            tensors.append(pb_utils.Tensor(decision_name, calibration.decision(probability)))
        return pb_utils.InferenceResponse(output_tensors=tensors)
