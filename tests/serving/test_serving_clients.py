"""LangChain (ChatOpenAI invoke/stream/bind_tools, the completion class OpenAI) and LiteLLM
drive the gateway over real HTTP on loopback, from their own tool environment
(`make clients`: .tools/clients), with an API key."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from serving_fixtures import NAME, make_spec, release

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PY = ROOT / ".tools/clients/bin/python"
TOOLS_FILE = """name: triage-tools
version: v3
tools:
  - type: function
    function: {name: escalate_to_human, description: Hand the ticket to a human., parameters: {type: object}}
"""


def test_langchain_and_litellm_through_the_gateway(registry, start_gateway, store_url, upstream, tmp_path):
    if not (CLIENTS_PY.exists() and (ROOT / ".tools/clients/.installed").exists()):
        pytest.fail("the clients tool environment .tools/clients is missing: run `make clients` "
                    "(langchain-openai and litellm, ~2.5 min)")
    tools_dir = tmp_path / "tools"
    tools_dir.mkdir()
    (tools_dir / "triage-tools-v3.yaml").write_text(TOOLS_FILE, encoding="utf-8")
    entry = release(registry, make_spec())
    release(registry, make_spec(name="triage-tools-demo", tools_ref="triage-tools@v3", serving={"allow": {"tools": True}}))
    _, secret = registry.create_api_key("langchain-app", actor="alice")
    gw = start_gateway(tools_dir=str(tools_dir))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(LITELLM_TELEMETRY="False", LITELLM_LOCAL_MODEL_COST_MAP="True")
    done = subprocess.run([str(CLIENTS_PY), str(Path(__file__).with_name("clients_script.py")), gw.base_url + "/v1",
                           secret, NAME, "triage-tools-demo"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    def sent(text: str) -> dict:
        return json.loads(text)

    assert sent(out["chat_invoke"])["messages"] == [{"role": "user",
                                                     "content": "ticket : my card was charged twice label :"}]
    assert out["chat_invoke_version"] == f"{NAME}@{entry.version}"
    assert sent(out["chat_stream"])["stream"] is True
    # bind_tools: the caller's tool is added to the entry's (serving.allow.tools); the upstream
    # calls the first tool it gets, which is the entry's own
    assert out["bind_tools_calls"] == ["escalate_to_human"]
    [sent_tools] = [r["tools"] for r in upstream.received() if r.get("tools")]
    assert [t["function"]["name"] for t in sent_tools] == ["escalate_to_human", "lookup_policy"]
    assert sent(out["legacy_invoke"])["prompt"] == "ticket : login fails label :"
    assert sent(out["litellm"])["model"] == "gpt-5-mini-2026-01-01"
    assert sent(out["litellm_stream"])["messages"][0]["content"] == "ticket : login fails label :"
