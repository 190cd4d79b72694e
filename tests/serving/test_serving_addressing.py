"""Addressing: the OpenAI `model` field (+ X-LLMReg-Env) -> (name, stage|version, env)."""
from __future__ import annotations

import pytest

from llmreg.serving.addressing import Target, parse_target
from llmreg.serving.api_errors import ApiError


@pytest.mark.parametrize(
    ("model", "header", "expected"),
    [
        ("support-triage", None, Target("support-triage", "default", "production")),
        ("support-triage@production", None, Target("support-triage", "default", "production")),
        ("support-triage@production:eu", None, Target("support-triage", "eu", "production")),
        ("support-triage@canary:eu", "eu", Target("support-triage", "eu", "canary")),
        ("support-triage@staging", "us", Target("support-triage", "us", "staging")),
        ("support-triage@1.4.0", None, Target("support-triage", "default", None, "1.4.0")),
        ("support-triage@1.4.0:eu", None, Target("support-triage", "eu", None, "1.4.0")),
    ],
)
def test_parse_target(model, header, expected):
    assert parse_target(model, env_header=header) == expected


@pytest.mark.parametrize(
    ("model", "header", "param", "fragment"),
    [
        ("", None, "model", "must name a registry entry"),
        (42, None, "model", "must name a registry entry"),
        ("Support Triage", None, "model", "not a registry entry name"),
        ("support-triage@", None, "model", "nothing after '@'"),
        ("support-triage@latest", None, "model", "floating names are not served"),
        ("support-triage@archived", None, "model", "neither a servable stage"),
        ("support-triage@production:EU", None, "model", "not an environment name"),
        ("support-triage@production:production", None, "model", "not a stage"),
        ("support-triage@production:eu", "us", "model", "give one"),
        ("support-triage", "bad env", "X-LLMReg-Env", "not an environment name"),
    ],
)
def test_parse_target_refuses_with_one_clear_line(model, header, param, fragment):
    with pytest.raises(ApiError) as info:
        parse_target(model, env_header=header)
    error = info.value
    assert error.status == 400
    assert error.param == param
    assert fragment in error.message
    assert "\n" not in error.message
    assert set(error.body()["error"]) == {"message", "type", "param", "code"}


def test_default_env_is_configurable():
    assert parse_target("support-triage", default_env="eu").env == "eu"
