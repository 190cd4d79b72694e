"""Gateway configuration: defaults, a full file, and one clear line per bad setting."""
from __future__ import annotations

import pytest

from llmreg.registry.errors import BadInput
from llmreg.serving.config import GatewayConfig


def test_defaults_need_no_file():
    config = GatewayConfig.from_dict({})
    assert (config.default_env, config.prompts_dir, config.local_engine) == ("default", "prompts", "transformers")
    assert config.slo_guard.enabled and config.slo_guard.actor == "system:slo-guard"


def test_full_file(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "prompts_dir: p\n"
        "upstreams:\n"
        "  openai: {base_url: 'https://api.openai.com/v1', api_key_env: OPENAI_API_KEY}\n"
        "  hf: {base_url: 'http://127.0.0.1:8000/v1', model_names: {support-triage@1.4.0: triage-lora}}\n"
        "shadows:\n"
        "  - {name: support-triage, stage: staging, fraction: 0.5}\n"
        "slo_guard: {interval_s: 0.5, window: 50}\n"
        "call_log: {batch_size: 10}\n", encoding="utf-8")
    config = GatewayConfig.from_file(path)
    assert config.upstreams["hf"].model_names["support-triage@1.4.0"] == "triage-lora"
    assert config.shadows[0].env == "default" and config.shadows[0].fraction == 0.5
    assert (config.slo_guard.window, config.call_log.batch_size) == (50, 10)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"upstreams": {"openai": {"base_url": "api.openai.com"}}}, "upstreams.openai.base_url"),
        ({"upstreams": {"openai": {"base_url": "http://x", "api_key": "sk-123"}}}, "upstreams.openai.api_key"),
        ({"upstreams": {"openai": {"base_url": "http://x", "api_key_env": "sk-123"}}}, "upstreams.openai.api_key_env"),
        ({"shadows": [{"name": "x"}]}, "shadows[0]"),
        ({"shadows": [{"name": "x", "version": "latest"}]}, "shadows[0].version"),
        ({"local_engine": "onnx"}, "local_engine"),
        ({"slo_guard": {"window": 0}}, "slo_guard.window"),
        ({"slo_guard": {"intervall_s": 1}}, "slo_guard.intervall_s"),
        ({"poll_interval_s": -1}, "poll_interval_s"),
        ({"prompt_dir": "p"}, "prompt_dir"),
    ],
)
def test_bad_settings_name_the_key(data, field):
    with pytest.raises(BadInput) as info:
        GatewayConfig.from_dict(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"gateway config: {field}:")
    assert "\n" not in str(info.value)


def test_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(BadInput, match="cannot read it"):
        GatewayConfig.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstreams: [", encoding="utf-8")
    with pytest.raises(BadInput, match="malformed YAML"):
        GatewayConfig.from_file(bad)
