"""Every config.pbtxt (GPU variants included) parses into Triton's ModelConfig and matches the contract."""
from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from lesion.contract import MODELS, NETWORK, PIPELINE, POSTPROCESS, PREPROCESS, ModelContract, TensorSpec
from serving.triton import DEFAULT_REPOSITORY

CONTRACTS = {contract.name: contract for contract in MODELS}
CONFIG_FILES = sorted(DEFAULT_REPOSITORY.glob("*/config.pbtxt")) + sorted(DEFAULT_REPOSITORY.glob("*/configs/*.pbtxt"))


def parse(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def config_signature(tensors) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {t.name: (mc.DataType.Name(t.data_type), tuple(t.dims)) for t in tensors}


def contract_signature(specs: tuple[TensorSpec, ...]) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {s.name: (s.config_dtype, s.shape) for s in specs}


def test_every_contract_model_has_a_config():
    assert {p.parent.name for p in DEFAULT_REPOSITORY.glob("*/config.pbtxt")} == set(CONTRACTS)
    assert len(CONFIG_FILES) == len(CONTRACTS) + 2  # plus the two GPU variants of lesion_net


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(DEFAULT_REPOSITORY)))
def test_config_parses_and_matches_contract(path: Path):
    config = parse(path)
    model_dir = path.parent if path.name == "config.pbtxt" else path.parent.parent
    contract: ModelContract = CONTRACTS[model_dir.name]
    assert config.name == contract.name
    assert config_signature(config.input) == contract_signature(contract.inputs)
    assert config_signature(config.output) == contract_signature(contract.outputs)
    assert config.max_batch_size >= 8
    assert config.version_policy.WhichOneof("policy_choice") == "latest"


@pytest.mark.parametrize("path", [p for p in CONFIG_FILES if "lesion_net" in str(p)], ids=lambda p: p.name)
def test_network_variants_batch_dynamically_and_warm_up(path: Path):
    config = parse(path)
    assert config.dynamic_batching.max_queue_delay_microseconds > 0
    assert [w.batch_size for w in config.model_warmup] and all(
        set(w.inputs) == {NETWORK.inputs[0].name} for w in config.model_warmup
    )


def test_variants_differ_only_in_how_the_network_runs():
    cpu = parse(DEFAULT_REPOSITORY / NETWORK.name / "config.pbtxt")
    ort = parse(DEFAULT_REPOSITORY / NETWORK.name / "configs" / "gpu_onnxruntime.pbtxt")
    trt = parse(DEFAULT_REPOSITORY / NETWORK.name / "configs" / "gpu_tensorrt.pbtxt")
    assert cpu.backend == "python" and cpu.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert {p: cpu.parameters[p].string_value for p in cpu.parameters} == {
        "intra_op_thread_count": "2", "inter_op_thread_count": "1"}
    assert ort.backend == "onnxruntime" and ort.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    accelerator = ort.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    assert accelerator.parameters["trt_profile_max_shapes"] == f"image:{ort.max_batch_size}x3x256x256"
    assert trt.platform == "tensorrt_plan" and trt.default_model_filename == "model.plan"
    assert cpu.max_batch_size == ort.max_batch_size == trt.max_batch_size


def test_ensemble_wires_each_step_to_its_contract():
    config = parse(DEFAULT_REPOSITORY / PIPELINE.name / "config.pbtxt")
    assert config.platform == "ensemble"
    steps = config.ensemble_scheduling.step
    assert [s.model_name for s in steps] == [PREPROCESS.name, NETWORK.name, POSTPROCESS.name]
    produced = {t.name for t in PIPELINE.inputs}
    for step in steps:
        contract = CONTRACTS[step.model_name]
        assert set(step.input_map) == {t.name for t in contract.inputs}
        assert set(step.output_map) == {t.name for t in contract.outputs}
        assert set(step.input_map.values()) <= produced  # every input was produced by an earlier step
        produced |= set(step.output_map.values())
    assert {t.name for t in PIPELINE.outputs} <= produced
