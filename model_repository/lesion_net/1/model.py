"""Triton python backend: the lesion network run by ONNX Runtime on CPU (model.onnx beside this file).

Contract (lesion.contract.NETWORK): image FP32 [3,256,256] -> mask FP32 [1,256,256],
melanoma FP32 [1], seborrheic_keratosis FP32 [1] (probabilities); batch dimension first.
Dynamic batching hands over several requests: they are concatenated, run once and split back.
Threads come from the same config parameters the native onnxruntime backend reads; output names come
from the config (checked against the contract by tests), so single-task networks can reuse this file.
"""
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

from lesion.contract import IMAGE


def _parameter(config: dict, key: str, default: int) -> int:
    value = config.get("parameters", {}).get(key, {}).get("string_value", "")
    return int(value) if value else default


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        if not path.is_file():
            raise pb_utils.TritonModelException(f"{path} is missing: run `python -m export` first")
        options = ort.SessionOptions()
        options.intra_op_num_threads = _parameter(config, "intra_op_thread_count", 0)
        options.inter_op_num_threads = _parameter(config, "inter_op_thread_count", 0)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.outputs = [output["name"] for output in config["output"]]

    def execute(self, requests):
        batches = [pb_utils.get_input_tensor_by_name(r, IMAGE.name).as_numpy() for r in requests]
        results = self.session.run(self.outputs, {IMAGE.name: np.concatenate(batches)})
        responses, start = [], 0
        for batch in batches:
            stop = start + len(batch)
            tensors = [pb_utils.Tensor(name, out[start:stop]) for name, out in zip(self.outputs, results)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = stop
        return responses
