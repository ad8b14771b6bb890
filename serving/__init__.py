"""Run the real Triton Inference Server locally (binary from the nvidia-pytriton wheel)."""
