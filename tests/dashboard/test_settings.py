import subprocess
import sys

import pytest

from dashboard.settings import DashboardSettings, parse_settings


def test_defaults_bind_to_localhost():
    settings = parse_settings([], environ={})
    assert settings == DashboardSettings()
    assert settings.url.startswith("127.0.0.1:")
    assert settings.exporter_address == "127.0.0.1"
    assert settings.prometheus_url is None


def test_environment_overrides_defaults_and_command_line_overrides_environment():
    env = {"LESION_TRITON_URL": "triton:8000", "LESION_PROTOCOL": "grpc",
           "LESION_PROMETHEUS_URL": "http://prometheus:9090", "LESION_METRICS_PORT": "9200"}
    from_env = parse_settings([], environ=env)
    assert (from_env.url, from_env.protocol, from_env.prometheus_url, from_env.exporter_port) == (
        "triton:8000", "grpc", "http://prometheus:9090", 9200)
    from_cli = parse_settings(["--url", "10.0.0.5:8001", "--protocol", "http", "--refresh", "2"], environ=env)
    assert (from_cli.url, from_cli.protocol, from_cli.refresh_s) == ("10.0.0.5:8001", "http", 2.0)
    assert from_cli.prometheus_url == "http://prometheus:9090"


def test_metrics_port_zero_disables_the_exporter():
    assert parse_settings(["--metrics-port", "0"], environ={}).exporter_port is None


def test_bad_protocol_is_refused_with_a_message(capsys):
    with pytest.raises(SystemExit):
        parse_settings(["--protocol", "ftp"], environ={})
    assert "invalid choice: 'ftp'" in capsys.readouterr().err


def test_bad_protocol_from_the_environment_is_refused_too(capsys):
    with pytest.raises(SystemExit):
        parse_settings([], environ={"LESION_PROTOCOL": "ftp"})
    assert "LESION_PROTOCOL" in capsys.readouterr().err


def test_python_m_dashboard_help_documents_every_option():
    done = subprocess.run([sys.executable, "-m", "dashboard", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in ("--url", "--protocol", "--prometheus-url", "--metrics-port", "--address", "--port",
                   "LESION_TRITON_URL", "LESION_PROMETHEUS_URL"):
        assert option in done.stdout
