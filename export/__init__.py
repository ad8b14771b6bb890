"""Export a trained checkpoint into the Triton model repository (ONNX, TensorRT, calibration)."""
