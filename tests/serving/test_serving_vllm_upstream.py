"""The production setup: the gateway in front of a real vLLM server (CPU build, `make vllm`)
serving a tiny Llama and its LoRA adapter. Through the gateway, answers equal vLLM's own
(greedy), logprobs come back intact, streams pass through with usage, n/seed/temperature
reach vLLM when the entry allows them, vLLM's own 400s (context length, a tool choice it is
not set up for) pass through as the caller's errors and never count against the version,
and the eval runner built from the entry gets the gateway's answers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest

from llmreg.serving.call_log import read_rows
from llmreg.serving.call_metrics import is_error
from llmreg.serving.config import UpstreamConfig
from serving_fixtures import NAME, make_spec, release

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VLLM_PY = ROOT / ".tools/vllm/bin/python"
SERVED = "tiny-lora-2026-01-01"
TEXTS = ["my card was charged twice", "parcel never arrived", "login fails"]
TOOLS_FILE = """name: triage-tools
version: v3
tools:
  - type: function
    function: {name: escalate_to_human, parameters: {type: object}}
"""


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory):
    from serving_tiny_llama import build

    if not (VLLM_PY.exists() and (ROOT / ".tools/vllm/.installed").exists()):
        pytest.fail("the vLLM tool environment .tools/vllm is missing: run `make vllm`")
    base, adapter = build(tmp_path_factory.mktemp("tiny-vllm"), max_positions=256, hidden_size=64)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_TARGET_DEVICE="cpu", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1")
    log_path = tmp_path_factory.mktemp("vllm-log") / "vllm.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(base),
                                 "--served-model-name", "tiny-2026-01-01", "--max-model-len", "256", "--enable-lora",
                                 "--max-lora-rank", "8", "--max-loras", "1", "--lora-modules", f"{SERVED}={adapter}",
                                 "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail("vllm exited while starting:\n" + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vllm did not start in 300 s:\n" + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_gateway_in_front_of_vllm(registry, start_gateway, vllm_url, tmp_path):
    from evals.runners.entry_runner import render_for_entry, runner_for_entry
    from llmreg.registry.prompts import PromptTemplate
    from serving_fixtures import PROMPT_TEMPLATE

    tools_dir = tmp_path / "tools"
    tools_dir.mkdir()
    (tools_dir / "triage-tools-v3.yaml").write_text(TOOLS_FILE, encoding="utf-8")
    entry = release(registry, make_spec(model={"provider": "vllm", "id": SERVED}, params={"max_tokens": 4,
                                                                                          "temperature": 0.0},
                                        serving={"max_n": 2, "allow": {"temperature": [0.0, 1.0]}}))
    release(registry, make_spec(name="triage-tools-demo", model={"provider": "vllm", "id": SERVED},
                                tools_ref="triage-tools@v3", serving={"messages": "chat", "allow": {"tool_choice": True}}))
    gw = start_gateway(upstreams={"vllm": UpstreamConfig(base_url=vllm_url, timeout_s=60)}, tools_dir=str(tools_dir))
    client = gw.client()
    direct = openai.OpenAI(base_url=vllm_url, api_key="EMPTY", max_retries=0)

    # greedy answers and logprobs through the gateway are vLLM's own
    for text in TEXTS:
        prompt = f"ticket : {text} label :"
        mine = client.completions.create(model=NAME, prompt=text, logprobs=2)
        theirs = direct.completions.create(model=SERVED, prompt=prompt, max_tokens=4, temperature=0, logprobs=2)
        assert mine.choices[0].text == theirs.choices[0].text
        assert mine.choices[0].logprobs.tokens == theirs.choices[0].logprobs.tokens
        assert mine.choices[0].logprobs.top_logprobs == theirs.choices[0].logprobs.top_logprobs
    # the eval runner built from the entry gets the gateway's answers (served = evaluated)
    template = PromptTemplate("triage-prompt", "v1", PROMPT_TEMPLATE)
    evaluated = runner_for_entry(entry.spec, base_url=vllm_url).generate(
        [render_for_entry(entry.spec, template, t) for t in TEXTS])
    assert [c.text for c in evaluated] == [client.completions.create(model=NAME, prompt=t).choices[0].text
                                           for t in TEXTS]
    # streams pass through with usage
    chunks = list(client.completions.create(model=NAME, prompt=TEXTS[0], stream=True,
                                            stream_options={"include_usage": True}))
    whole = client.completions.create(model=NAME, prompt=TEXTS[0])
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    # n, seed and temperature reach vLLM when the entry's policy allows them
    several = client.completions.create(model=NAME, prompt=TEXTS[1], n=2, temperature=0.9, seed=5)
    assert len(several.choices) == 2
    # vLLM's own refusals are the caller's errors, passed through, never counted
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=NAME, prompt="login " * 300)
    assert "maximum context length" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:  # n > 1 needs sampling: vLLM says so
        client.completions.create(model=NAME, prompt=TEXTS[1], n=2)
    assert "greedy" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:  # the entry's tools and the tool choice reached vLLM
        client.chat.completions.create(model="triage-tools-demo", messages=[{"role": "user", "content": "x"}],
                                       tool_choice="auto")
    assert "tool" in info.value.message
    gw.flush()
    rows = read_rows(gw.engine)
    assert [r["status"] for r in rows if r["status"] != 200] == [400, 400, 400]
    assert not any(is_error(r["status"]) for r in rows)
