"""Triton python backend: encoded image bytes -> network input and original size.

Contract (lesion.contract.PREPROCESS): IMAGE_BYTES BYTES [1] -> image FP32 [3,256,256],
original_size INT32 [2] (height, width after EXIF rotation); batch dimension first.
A request whose bytes are not an acceptable image gets an error response; the others in the batch
are served.
"""
import numpy as np
import triton_python_backend_utils as pb_utils

from lesion.contract import IMAGE, IMAGE_BYTES, ORIGINAL_SIZE
from lesion.preprocessing import ImageDecodeError, preprocess_bytes


def _as_bytes(item) -> bytes:
    return item if isinstance(item, bytes) else bytes(item)


class TritonPythonModel:
    def initialize(self, args):
        pass

    def execute(self, requests):
        return [self._respond(request) for request in requests]

    def _respond(self, request):
        encoded = pb_utils.get_input_tensor_by_name(request, IMAGE_BYTES.name).as_numpy().reshape(-1)
        try:
            decoded = [preprocess_bytes(_as_bytes(item)) for item in encoded]
        except ImageDecodeError as err:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{IMAGE_BYTES.name}: {err}"))
        images = np.stack([image for image, _ in decoded]).astype(np.float32)
        sizes = np.array([size for _, size in decoded], dtype=np.int32)
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor(IMAGE.name, images), pb_utils.Tensor(ORIGINAL_SIZE.name, sizes)]
        )
