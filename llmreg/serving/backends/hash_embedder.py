"""A local embedding backend for the RAG example's embedder (examples/rag-stack/embedders/).

That embedder is a config file, not weights: feature hashing of words (and word pairs when
`ngram: 2`) into `dim` signed buckets, salted, L2-normalised. An entry serves it with
`model: {provider: local, id: kb-hash-embedder, uri: <the config file>, sha256: <its digest>}`
and `labels: {task: embedding}`; the gateway loads the file only after it hashes to the
registered digest (local_files.verified_files), so the vectors served are the ones the
index was built with. The example's `rag.embed` calls `embed_text`: one implementation builds
the index and serves the queries.

Chat and completion requests to it are refused (400): it is an embedding model.
"""
from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import Any, AsyncIterator, Mapping

from llmreg.serving.api_errors import bad_request

_WORD = re.compile(r"[a-z0-9]+")
CONFIG_KEYS = ("dim", "salt")


def is_hash_embedder_config(data: Any) -> bool:
    return isinstance(data, Mapping) and all(k in data for k in CONFIG_KEYS)


def embed_text(text: str, config: Mapping[str, Any]) -> tuple[list[float], int]:
    """(unit vector, words counted as tokens)."""
    dim, salt = int(config["dim"]), str(config.get("salt", ""))
    tokens = _WORD.findall(text.lower())
    features = list(tokens)
    if int(config.get("ngram", 1)) >= 2:
        features += [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    vector = [0.0] * dim
    for feature in features:
        digest = hashlib.sha256((salt + feature).encode("utf-8")).digest()
        bucket = int.from_bytes(digest[:4], "little") % dim
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector], len(tokens)


class HashEmbedderBackend:
    kind = "local-embedder"
    max_context = None

    def __init__(self, config: Mapping[str, Any], source: str):
        dim = config.get("dim")
        if not isinstance(dim, int) or not 1 <= dim <= 65536:
            raise ValueError(f"{source}: dim must be an integer in [1, 65536], got {dim!r}")
        self.config = dict(config)
        self.name = f"{config.get('name', 'hash-embedder')}@{config.get('version', '?')}"
        self.dim = dim

    async def embed(self, model: str, value: Any, options: dict[str, Any], request_id: str = "") -> dict[str, Any]:
        texts = [value] if isinstance(value, str) else list(value)
        if any(not isinstance(t, str) for t in texts):
            raise bad_request(f"{self.name} embeds text; send 'input' as a string or an array of strings (token "
                              "arrays are for models with a tokenizer)", param="input", code="invalid_type")
        dimensions = options.get("dimensions")
        if dimensions is not None and dimensions != self.dim:
            raise bad_request(f"'dimensions': {self.name} has {self.dim} dimensions and cannot shorten them; omit "
                              f"'dimensions' or send {self.dim}", param="dimensions", code="unsupported_parameter")
        data, tokens = [], 0
        for index, text in enumerate(texts):
            vector, count = embed_text(text, self.config)
            tokens += count
            if options.get("encoding_format") == "base64":  # as OpenAI sends it: little-endian float32
                encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
            else:
                encoded = vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    async def generate(self, request: Any) -> Any:
        raise self._not_generative()

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        raise self._not_generative()
        yield  # pragma: no cover - makes this an async generator

    def _not_generative(self):
        return bad_request(f"{self.name} is an embedding model; call /v1/embeddings", param="model",
                           code="model_not_generative")

    async def aclose(self) -> None:
        pass


def load_hash_embedder(path: str) -> HashEmbedderBackend:
    from llmreg.registry.documents import read_document

    return HashEmbedderBackend(read_document(path, "embedder config"), path)
