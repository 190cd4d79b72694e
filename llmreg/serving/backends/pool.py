"""Which backend serves a resolved entry, and the loaded backends kept between requests.

- An upstream configured for the entry's model provider (`upstreams.<provider>`) wins: one
  shared pooled client per upstream; the model name sent is the upstream's `model_names`
  mapping for the entry ref or model id, else the pinned snapshot (ModelRef.request_id).
- Otherwise a `local`/`hf` model with files is loaded in-process (`local_engine`:
  transformers, or vllm where importable), after its checksums verify. Loaded models are
  keyed by the entry's digest, at most `max_local_models` at once (least recently used
  goes); a request holding a backend keeps it alive even if it is evicted meanwhile.
- An embedder entry (`labels.task: embedding`) whose local model is a hash-embedder config
  file (the RAG example's) is served by hash_embedder.py, after the same checksum check.
- A failed load (bad checksum, missing files) is remembered for `retry_failed_load_s`, so a
  tampered adapter is not re-hashed on every request; each request still gets the error.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from typing import Any, Callable

from llmreg.registry.entry import Entry
from llmreg.registry.errors import IntegrityError, RegistryError
from llmreg.serving.api_errors import ApiError, server_error
from llmreg.serving.backends.local_files import verified_files
from llmreg.serving.backends.upstream import UpstreamBackend
from llmreg.serving.config import GatewayConfig

LOCAL_PROVIDERS = ("local", "hf", "huggingface")


def is_embedder(spec: Any) -> bool:
    return spec.labels.get("task") == "embedding" or "embed" in spec.model.request_id.lower()


class BackendPool:
    def __init__(self, config: GatewayConfig, *, artifact_store: Any | None = None,
                 loaders: dict[str, Callable[..., Any]] | None = None, retry_failed_load_s: float = 10.0):
        self.config = config
        self.artifact_store = artifact_store
        self.retry_failed_load_s = retry_failed_load_s
        self._upstreams: dict[str, UpstreamBackend] = {}
        self._local: OrderedDict[str, Any] = OrderedDict()
        self._failed: dict[str, tuple[float, ApiError]] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._loaders = loaders or {}

    def _upstream(self, provider: str) -> UpstreamBackend | None:
        backend = self._upstreams.get(provider)
        if backend is None and provider in self.config.upstreams:
            backend = UpstreamBackend.from_config(provider, self.config.upstreams[provider])
            self._upstreams[provider] = backend
        return backend

    async def get(self, entry: Entry) -> tuple[Any, str]:
        """(backend, model name to send) for `entry`; ApiError when it cannot be served."""
        model = entry.spec.model
        upstream = self._upstream(model.provider)
        if upstream is not None:
            names = self.config.upstreams[model.provider].model_names
            return upstream, names.get(entry.ref) or names.get(model.request_id) or model.request_id
        if model.provider not in LOCAL_PROVIDERS:
            raise server_error(f"{entry.ref}: no upstream configured for provider {model.provider!r}; add "
                               f"upstreams.{model.provider}.base_url (and api_key_env) to the gateway config",
                               code="no_backend")
        return await self._local_backend(entry), model.request_id

    async def _local_backend(self, entry: Entry) -> Any:
        key = f"{entry.ref}#{entry.spec.digest}"
        backend = self._local.get(key)
        if backend is not None:
            self._local.move_to_end(key)
            return backend
        lock = self._loading.setdefault(key, asyncio.Lock())
        async with lock:
            backend = self._local.get(key)
            if backend is not None:
                return backend
            failed = self._failed.get(key)
            if failed is not None and time.monotonic() < failed[0]:
                raise failed[1]
            try:
                backend = await asyncio.to_thread(self._load, entry)
            except ApiError as exc:
                self._failed[key] = (time.monotonic() + self.retry_failed_load_s, exc)
                raise
            self._failed.pop(key, None)
            self._local[key] = backend
            while len(self._local) > self.config.max_local_models:
                _, evicted = self._local.popitem(last=False)
                await evicted.aclose()
            return backend

    def _load(self, entry: Entry) -> Any:
        try:
            files = verified_files(entry, self.artifact_store)
        except IntegrityError as exc:
            raise server_error(str(exc), code="artifact_integrity") from None
        except RegistryError as exc:
            raise server_error(str(exc), code="backend_load_failed") from None
        if is_embedder(entry.spec) and os.path.isfile(files.base_dir):
            from llmreg.serving.backends.hash_embedder import load_hash_embedder

            try:
                return load_hash_embedder(files.base_dir)
            except (RegistryError, ValueError) as exc:
                raise server_error(f"{entry.ref}: cannot load the embedder config {files.base_dir}: {exc}",
                                   code="backend_load_failed") from None
        engine = self.config.local_engine
        loader = self._loaders.get(engine)
        if loader is None:
            if engine == "vllm":
                from llmreg.serving.backends.vllm_inprocess import load_vllm as loader
            else:
                from llmreg.serving.backends.transformers_local import load_transformers as loader
        try:
            return loader(files, runtime=entry.spec.runtime)  # the version's serving config, not flags
        except ApiError:
            raise
        except (OSError, ValueError, RuntimeError) as exc:
            raise server_error(f"{entry.ref}: cannot load local model from {files.base_dir}: {exc}",
                               code="backend_load_failed") from None

    async def aclose(self) -> None:
        for backend in list(self._upstreams.values()) + list(self._local.values()):
            await backend.aclose()
        self._upstreams.clear()
        self._local.clear()
