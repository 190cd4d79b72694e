"""What a request asks for: a registry entry, a stage (or a pinned version) and an environment.

The OpenAI `model` field carries the address, so unmodified OpenAI clients work:

    support-triage                    production holder in the default environment ("default")
    support-triage@production         the same, explicit
    support-triage@canary:eu          the canary holder in environment "eu"
    support-triage@1.4.0              exactly that version (default environment for logging)

The `X-LLMReg-Env` header names the environment too; giving both and disagreeing is an error
rather than a silent choice. Applications never name a model id or inline a prompt.

An experiment configured in the gateway (`experiments:`) is addressed by its name alone:

    triage-ab                         the experiment in the default environment
    triage-ab:eu                      the same in "eu" (or header X-LLMReg-Env: eu)

Its variants fix their own stage or version, so `triage-ab@...` is refused.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection

from llmreg.registry.entry import NAME_RE
from llmreg.registry.resolve import DEFAULT_ENV, ENV_RE, STAGE_NAMES
from llmreg.serving.api_errors import ApiError, bad_request

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
SERVABLE_STAGES = ("production", "canary", "staging")
ENV_HEADER = "x-llmreg-env"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    env: str
    stage: str | None  # None when a version is pinned
    version: str | None = None

    @property
    def label(self) -> str:
        selector = self.version or self.stage
        return f"{self.name}@{selector}:{self.env}"


@dataclass(frozen=True, slots=True)
class ExperimentTarget:
    """A request for an experiment: the gateway picks the variant, the variant picks the entry."""

    name: str
    env: str


def parse_request_target(model: object, *, experiments: Collection[str] = (), env_header: str | None = None,
                         default_env: str = DEFAULT_ENV) -> Target | ExperimentTarget:
    """An experiment when the address names one of `experiments`, else as `parse_target`.

    Experiments are looked up first: the gateway's config claims the name (and refuses to
    start when a registry entry already has it).
    """
    if experiments and isinstance(model, str):
        text = model.strip()
        rest, colon, env = text.partition(":")
        name, at, selector = rest.partition("@")
        if name in experiments:
            if at:
                raise bad_request(f"model {text!r}: {name!r} is an experiment; its variants fix their own stage or "
                                  f"version, so write {name!r} or '{name}:ENV' without '@{selector}'",
                                  param="model", code="invalid_model")
            return ExperimentTarget(name, _environment(text, colon, env, env_header, default_env, f"{name}:eu"))
    return parse_target(model, env_header=env_header, default_env=default_env)


def parse_target(model: object, *, env_header: str | None = None, default_env: str = DEFAULT_ENV) -> Target:
    """Parse the `model` field (+ env header) into a Target; ApiError(400) names the fix."""
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' must name a registry entry, e.g. 'support-triage@production'",
                          param="model", code="invalid_model")
    text = model.strip()
    rest, colon, env = text.partition(":")
    name, at, selector = rest.partition("@")
    if not NAME_RE.match(name):
        raise bad_request(f"model {text!r}: {name!r} is not a registry entry name (lowercase letters, digits, '._-'); "
                          "write 'NAME@STAGE[:ENV]', e.g. 'support-triage@production:eu'", param="model", code="invalid_model")
    if at and not selector:
        raise bad_request(f"model {text!r}: nothing after '@'; name a stage ({', '.join(SERVABLE_STAGES)}) or a version X.Y.Z",
                          param="model", code="invalid_model")
    environment = _environment(text, colon, env, env_header, default_env, f"{name}@production:eu")
    selector = selector or "production"
    if VERSION_RE.match(selector):
        return Target(name=name, env=environment, stage=None, version=selector)
    if selector not in SERVABLE_STAGES:
        raise ApiError(400, f"model {text!r}: {selector!r} is neither a servable stage ({', '.join(SERVABLE_STAGES)}) "
                            "nor a version X.Y.Z; floating names are not served", param="model", code="invalid_model")
    return Target(name=name, env=environment, stage=selector)


def _environment(text: str, colon: str, env: str, env_header: str | None, default_env: str, example: str) -> str:
    """The environment from ':ENV' in the address or the header (both: they must agree)."""
    if colon and not _is_env(env):
        raise bad_request(f"model {text!r}: environment {env!r} is not an environment name (lowercase letters, digits, "
                          f"'._-', not a stage); e.g. {example!r}", param="model", code="invalid_model")
    header_env = (env_header or "").strip() or None
    if header_env is not None and not _is_env(header_env):
        raise bad_request(f"header X-LLMReg-Env: {header_env!r} is not an environment name (lowercase letters, digits, "
                          "'._-', not a stage); e.g. 'eu'", param="X-LLMReg-Env", code="invalid_env")
    if colon and header_env is not None and header_env != env:
        raise bad_request(f"model {text!r} names environment {env!r} but header X-LLMReg-Env says {header_env!r}; give one",
                          param="model", code="conflicting_env")
    return (env if colon else None) or header_env or default_env


def _is_env(env: str) -> bool:
    return bool(ENV_RE.match(env)) and env not in STAGE_NAMES
