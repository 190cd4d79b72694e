"""/v1/embeddings from the local backend: the RAG example's hash embedder served in-process
after its checksum verifies, in OpenAI's response shape, driven by the official openai client
over loopback; the vectors equal what the example indexes with (examples/rag-stack/rag.py)."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import httpx
import openai
import pytest

from llmreg.registry.artifacts import hash_location
from serving_fixtures import make_spec, release

ROOT = Path(__file__).resolve().parents[2]
RAG = ROOT / "examples" / "rag-stack"
EMBEDDER = RAG / "embedders" / "hash-embedder-1.0.0.yaml"
TEXTS = ["How do I get a refund for a double charge?", "shipping to Norway takes how long"]


def rag_module():
    spec = importlib.util.spec_from_file_location("rag_example", RAG / "rag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def embedder_spec(path: Path = EMBEDDER, sha256: str | None = None) -> dict:
    return make_spec(name="kb-embedder", prompt=False, params={}, labels={"task": "embedding"},
                     model={"provider": "local", "id": "kb-hash-embedder", "uri": str(path),
                            "sha256": sha256 or hash_location(str(path))[0]})


def test_the_rag_embedder_served_locally_equals_the_example(registry, start_gateway):
    entry = release(registry, embedder_spec())
    gw = start_gateway()
    client = gw.client()
    result = client.embeddings.create(model="kb-embedder@production", input=TEXTS)  # the SDK asks for base64
    rag = rag_module()
    config = rag.load_config(EMBEDDER)
    for served, text in zip(result.data, TEXTS, strict=True):  # float32 on the wire (base64)
        assert served.embedding == pytest.approx(rag.embed(text, config), abs=1e-6)
    assert [d.index for d in result.data] == [0, 1] and len(result.data[0].embedding) == 256
    assert result.model == f"kb-embedder@{entry.version}" and result.usage.prompt_tokens == 10 + 6  # words
    assert math.isclose(sum(v * v for v in result.data[0].embedding), 1.0, rel_tol=1e-5)
    # floats on the wire when asked for them, in OpenAI's shape
    raw = httpx.post(gw.base_url + "/v1/embeddings", json={"model": "kb-embedder", "input": TEXTS[0],
                                                           "encoding_format": "float"}).json()
    assert raw["object"] == "list" and raw["data"][0]["object"] == "embedding"
    assert raw["data"][0]["embedding"] == rag.embed(TEXTS[0], config)
    assert raw["llmreg"]["version"] == entry.version
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="kb-embedder", input="x", dimensions=64)
    assert info.value.body["param"] == "dimensions"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="kb-embedder", messages=[{"role": "user", "content": "x"}])
    assert "embedding model" in info.value.message


def test_an_embedder_config_that_changed_after_registration_is_not_loaded(registry, start_gateway, tmp_path):
    copy = tmp_path / "hash-embedder.yaml"
    copy.write_text(EMBEDDER.read_text())
    release(registry, embedder_spec(copy))
    copy.write_text(EMBEDDER.read_text().replace("salt: kb-v1", "salt: kb-v9"))
    client = start_gateway().client()
    with pytest.raises(openai.InternalServerError) as info:
        client.embeddings.create(model="kb-embedder", input="x")
    assert info.value.body["code"] == "artifact_integrity"
