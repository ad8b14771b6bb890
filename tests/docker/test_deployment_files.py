"""What can be checked of docker/ without a Docker engine: compose validity, Dockerfile sources,
the Triton entrypoint's checks, and Grafana provisioning."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILES = sorted(DOCKER.glob("*/Dockerfile"))
ENTRYPOINT = DOCKER / "triton" / "entrypoint.sh"


@pytest.fixture(scope="module")
def compose() -> dict:
    """`docker-compose config` output: the file as Compose itself reads it (interpolated, validated)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (bash scripts/install-system-deps.sh installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LESION_", "TRITON_", "GRAFANA_"))}
    done = subprocess.run([binary, "-f", str(COMPOSE), "--profile", "grafana", "config"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_brings_up_triton_prometheus_dashboard_and_optional_grafana(compose):
    services = compose["services"]
    assert set(services) == {"triton", "prometheus", "dashboard", "grafana"}
    assert services["grafana"]["profiles"] == ["grafana"]
    assert all("profiles" not in services[name] for name in ("triton", "prometheus", "dashboard"))
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
    for name in ("triton", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name  # the dashboard's is in its Dockerfile


def _host_ip(port) -> str | None:
    """docker-compose 1.x prints "IP:HOST:CONTAINER/tcp"; Compose v2 prints a mapping."""
    if isinstance(port, dict):
        return port.get("host_ip")
    parts = str(port).split(":")
    return parts[0] if len(parts) == 3 else None


def _bind_mounts(service: dict) -> dict[str, str]:
    mounts = {}
    for volume in service["volumes"]:
        if isinstance(volume, dict):
            if volume["type"] == "bind":
                mounts[volume["source"]] = volume["target"]
        elif volume.startswith("/"):
            source, target = volume.split(":")[:2]
            mounts[source] = target
    return {Path(source).relative_to(DOCKER).as_posix(): target for source, target in mounts.items()}


def test_published_ports_bind_to_localhost_by_default(compose):
    for name, service in compose["services"].items():
        for port in service["ports"]:
            assert _host_ip(port) == "127.0.0.1", (name, port)


def test_triton_reserves_a_gpu(compose):
    devices = compose["services"]["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_prometheus_mounts_the_shared_config_and_rules(compose):
    mounts = _bind_mounts(compose["services"]["prometheus"])
    assert mounts == {"prometheus/prometheus.yml": "/etc/prometheus/prometheus.yml",
                      "prometheus/rules.yml": "/etc/prometheus/rules.yml"}
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules.yml"]  # resolved next to the mounted config
    targets = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    dashboard_env = compose["services"]["dashboard"]["environment"]
    assert {"triton:8002", f"dashboard:{dashboard_env['LESION_METRICS_PORT']}"} <= targets


def test_dashboard_talks_to_the_services_by_name(compose):
    env = compose["services"]["dashboard"]["environment"]
    assert env["LESION_TRITON_URL"] == "triton:8000"
    assert env["LESION_TRITON_METRICS_URL"] == "http://triton:8002/metrics"
    assert env["LESION_PROMETHEUS_URL"] == "http://prometheus:9090"


def test_no_secrets_in_files(compose):
    grafana = compose["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == ""  # unset here: comes from the env
    assert "GRAFANA_ADMIN_PASSWORD" in COMPOSE.read_text()
    for path in DOCKER.rglob("*"):
        if path.is_file() and path.suffix in {".yaml", ".yml", ".json", ".sh", ""}:
            assert not re.search(r"(?i)password\s*[:=]\s*['\"]?\w{4,}", path.read_text()), path


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "COPY" and not any(p.startswith("--from") for p in parts):
            sources += [p for p in parts[1:-1] if not p.startswith("--")]
    return sources


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfiles_copy_files_that_exist_and_the_context_keeps(dockerfile):
    sources = _copy_sources(dockerfile)
    assert sources
    ignore = (dockerfile.parent / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for source in sources:
        assert (REPO / source).exists(), f"{dockerfile}: COPY {source} does not exist"
        assert source.rstrip("/") in kept, f"{dockerfile}: COPY {source} is excluded from the build context"


def test_dashboard_image_installs_what_the_dashboard_imports():
    requirements = (DOCKER / "dashboard" / "requirements.txt").read_text()
    for package in ("streamlit", "tritonclient", "prometheus-client", "pillow", "numpy", "pyarrow"):
        assert package in requirements


def _run_entrypoint(tmp_path: Path, config: str, files: list[str]) -> subprocess.CompletedProcess:
    repo = tmp_path / "models"
    for name in files:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(b"x")
    record = tmp_path / "tritonserver.args"
    bin_dir = tmp_path / "bin"  # stands in for the container's tritonserver: records its arguments
    bin_dir.mkdir()
    (bin_dir / "tritonserver").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    (bin_dir / "tritonserver").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LESION_MODEL_REPOSITORY": str(repo),
           "LESION_MODEL_CONFIG": config}
    return subprocess.run(["bash", str(ENTRYPOINT), "--log-verbose=1"], capture_output=True, text=True, env=env)


EXPORTED = ["lesion_net/1/model.onnx", "postprocess/1/calibration.json"]


def test_entrypoint_starts_triton_with_the_chosen_variant(tmp_path):
    done = _run_entrypoint(tmp_path, "gpu_tensorrt", [*EXPORTED, "lesion_net/1/model.plan"])
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "tritonserver.args").read_text().split()
    assert "--model-config-name=gpu_tensorrt" in args
    assert "--metrics-config=summary_latencies=true" in args  # the dashboard's p50/p95
    assert args[-1] == "--log-verbose=1"


def test_entrypoint_says_what_is_missing(tmp_path):
    done = _run_entrypoint(tmp_path, "gpu_tensorrt", EXPORTED)
    assert done.returncode == 2
    assert "model.plan is missing" in done.stderr and "build_engine_in_container.sh" in done.stderr
    assert not (tmp_path / "tritonserver.args").exists()
    unknown = _run_entrypoint(tmp_path / "other", "gpu_magic", EXPORTED)
    assert unknown.returncode == 2 and "unknown LESION_MODEL_CONFIG 'gpu_magic'" in unknown.stderr


def test_triton_image_uses_the_config_variants_the_repository_has():
    variants = {p.stem for p in (REPO / "model_repository" / "lesion_net" / "configs").glob("*.pbtxt")}
    assert {"gpu_tensorrt", "gpu_onnxruntime"} <= variants
    assert "ENV LESION_MODEL_CONFIG=gpu_tensorrt" in (DOCKER / "triton" / "Dockerfile").read_text()


def test_grafana_provisioning_parses_and_points_at_prometheus():
    datasource = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    provider = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/lesion.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboards = list((DOCKER / "grafana" / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        board = json.loads(path.read_text())
        assert board["uid"] and board["panels"]
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == source["uid"]
            assert all(target["expr"] for target in panel["targets"]), panel["title"]


def test_grafana_queries_are_valid_promql_over_the_recording_rules(tmp_path):
    """promtool checks every panel query by putting it in a rules file (it parses PromQL there)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (bash scripts/install-system-deps.sh installs prometheus)")
    board = json.loads((DOCKER / "grafana" / "dashboards" / "lesion.json").read_text())
    exprs = [t["expr"].replace("$model", ".*") for p in board["panels"] for t in p["targets"]]
    rules = {"groups": [{"name": "grafana", "rules": [{"record": f"grafana:q{i}", "expr": e}
                                                      for i, e in enumerate(exprs)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = yaml.safe_load((DOCKER / "prometheus" / "rules.yml").read_text())
    names = {r["record"] for g in recorded["groups"] for r in g["rules"] if "record" in r}
    used = {name for e in exprs for name in re.findall(r"[a-z_]+:[a-z_0-9:]+", e)}
    assert used <= names, f"dashboard uses recording rules that do not exist: {used - names}"


def _module_level_imports(path: Path) -> set[str]:
    """Imports run when the module loads (imports inside functions, e.g. sklearn for fitting a
    calibration, only run when that function is called, which serving never does)."""
    import ast

    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_triton_image_has_everything_the_python_backend_models_import():
    """The image adds only `lesion/`, numpy and Pillow to NGC's python: the GPU variants' python models
    (preprocess, postprocess) and the lesion modules they reach must need nothing else."""
    import sys

    provided = {"lesion", "numpy", "PIL", "triton_python_backend_utils", "__future__", *sys.stdlib_module_names}
    todo = [REPO / "model_repository" / name / "1" / "model.py" for name in ("preprocess", "postprocess")]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _module_level_imports(path):
            assert module.split(".")[0] in provided, f"{path.relative_to(REPO)} imports {module}"
            if module.startswith("lesion."):
                todo.append(REPO / (module.replace(".", "/") + ".py"))
    assert any(p.parent.name == "lesion" for p in seen)
