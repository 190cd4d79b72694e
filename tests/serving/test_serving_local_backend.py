"""The local transformers backend: base model + LoRA adapter served through the gateway,
checksums verified before loading, a tampered adapter refused naming both digests."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import openai
import pytest

from llmreg.registry.artifacts import hash_tree
from llmreg.registry.generation import RenderedInput
from llmreg.serving.backends.base import GenerationRequest
from llmreg.serving.backends.local_files import verified_files
from llmreg.serving.backends.vllm_inprocess import vllm_unavailable_reason
from serving_fixtures import NAME, make_spec, release

pytest.importorskip("peft")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    from serving_tiny_llama import build

    return build(tmp_path_factory.mktemp("tiny-llama"))


def local_spec(base: Path, adapter: Path) -> dict:
    adapter_sha, adapter_size = hash_tree(adapter)
    return make_spec(
        model={"provider": "local", "id": "tiny-llama", "uri": str(base), "sha256": hash_tree(base)[0]},
        artifacts=[{"name": "adapter", "uri": str(adapter), "sha256": adapter_sha, "size": adapter_size,
                    "kind": "adapter"}],
        params={"max_tokens": 3},
    )


def test_local_model_with_adapter_serves_greedy_and_deterministic(registry, start_gateway, tiny_model):
    base, adapter = tiny_model
    entry = release(registry, local_spec(base, adapter))
    client = start_gateway().client()
    answers = [client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "my card was charged twice"}])
               for _ in range(3)]
    assert len({a.choices[0].message.content for a in answers}) == 1  # greedy: same answer each time
    first = answers[0]
    assert first.llmreg["version"] == entry.version
    assert first.usage.prompt_tokens == len("ticket : my card was charged twice label :".split())
    # The tiny model never emits EOS this early, so generation stops exactly at the entry's
    # max_tokens (3): one more or one fewer means the entry's params were not applied.
    assert first.usage.completion_tokens == 3
    assert len(first.choices[0].message.content.split()) == 3


def test_adapter_changes_the_answer_distribution(tiny_model):
    """The adapter is really applied: logits differ from the base model's."""
    import torch

    from llmreg.serving.backends.local_files import LocalModelFiles
    from llmreg.serving.backends.transformers_local import TransformersBackend

    base, adapter = tiny_model
    with_adapter = TransformersBackend(LocalModelFiles(str(base), str(adapter), "adapter"))
    without = TransformersBackend(LocalModelFiles(str(base), None, None))
    enc = without.tokenizer("ticket : my card label :", return_tensors="pt")
    with torch.inference_mode():
        assert not torch.allclose(with_adapter.model(**enc).logits, without.model(**enc).logits)
    request = GenerationRequest(kind="completion", model="", input=RenderedInput("ticket : login fails label :"),
                                params={"max_tokens": 2})
    assert with_adapter._generate_sync(request).completion_tokens <= 2


def test_tampered_adapter_is_refused_naming_artifact_and_digests(registry, start_gateway, tiny_model):
    base, adapter = tiny_model
    entry = release(registry, local_spec(base, adapter))
    ref = entry.spec.artifacts[0]
    stored = Path(registry.artifacts.locate(ref.sha256))
    weights = next(p for p in stored.rglob("*.safetensors"))
    os.chmod(weights, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    actual = hash_tree(stored)[0]

    with pytest.raises(openai.InternalServerError) as info:
        start_gateway().client().chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}])
    message = info.value.body["message"]
    assert info.value.body["code"] == "artifact_integrity"
    assert "artifact 'adapter'" in message and ref.sha256 in message and actual in message
    assert "refusing to load" in message


def test_tampered_base_model_is_refused(registry, tiny_model, tmp_path):
    import shutil

    base, adapter = tiny_model
    copy = tmp_path / "base"
    shutil.copytree(base, copy)
    entry = registry.register(local_spec(copy, adapter), actor="alice")
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ", encoding="utf-8")
    from llmreg.registry.errors import IntegrityError

    with pytest.raises(IntegrityError, match=r"model of support-triage@1\.0\.0: expected sha256 [0-9a-f]{64}, got"):
        verified_files(entry, registry.artifacts)


def test_vllm_in_process_reports_why_it_cannot_run_here():
    reason = vllm_unavailable_reason()
    assert reason is None or "vllm" in reason.lower() or "gpu" in reason.lower()


def test_the_entrys_runtime_section_configures_the_local_backend(registry, start_gateway, tiny_model):
    """dtype, max_model_len and batch settings come from the entry (as `llmreg vllm-command`
    reads them), not from gateway flags; what the backend cannot apply refuses the load."""
    base, adapter = tiny_model
    runtime = {"dtype": "bfloat16", "max_model_len": 16, "batch": {"max_num_seqs": 2, "max_num_batched_tokens": 64}}
    release(registry, dict(local_spec(base, adapter), runtime=runtime))
    release(registry, dict(local_spec(base, adapter), name="quantized", runtime={"quantization": "awq"}))
    gw = start_gateway()
    client = gw.client()
    assert client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}]).usage \
        .completion_tokens == 3
    backend = next(iter(gw.gateway.backends._local.values()))
    assert (backend.dtype, backend.max_context, backend.max_batch, backend.max_batch_tokens) == ("bfloat16", 16, 2, 64)
    from llmreg.serving.backends.transformers_local import _Job

    def job(words: int) -> _Job:
        return _Job(GenerationRequest(kind="completion", model="", input=RenderedInput("w " * words),
                                      params={"max_tokens": 3}), None, None)  # type: ignore[arg-type]

    assert backend._fits([job(5), job(5)]) and not backend._fits([job(5), job(40)])  # 2 x (40 + 3) > 64
    with pytest.raises(openai.BadRequestError) as info:  # 64 positions in the model, 16 in the runtime
        client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "word " * 12}])
    assert "maximum context length is 16 tokens" in info.value.message
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="quantized", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "backend_unsupported_runtime" and "runtime.quantization awq" in \
        info.value.message


def test_runtime_maps_to_the_same_vllm_settings_as_vllm_command():
    from llmreg.serving.vllm_plan import runtime_engine_kwargs, runtime_flags

    runtime = {"quantization": "none", "dtype": "bfloat16", "max_model_len": 8192, "tensor_parallel_size": 2,
               "batch": {"max_num_seqs": 64, "max_num_batched_tokens": 16384}}
    kwargs = runtime_engine_kwargs(runtime)
    assert kwargs == {"dtype": "bfloat16", "max_model_len": 8192, "tensor_parallel_size": 2, "max_num_seqs": 64,
                      "max_num_batched_tokens": 16384}
    flags = runtime_flags(runtime)
    assert {flags[i].lstrip("-").replace("-", "_"): flags[i + 1] for i in range(0, len(flags), 2)} == \
        {k: str(v) for k, v in kwargs.items()}
