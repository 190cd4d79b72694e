"""Registry-aware OpenAI-compatible gateway.

Applications call `POST /v1/chat/completions` with `"model": "support-triage@production"`;
the gateway resolves the pinned release tuple from the registry, renders its prompt,
applies its params, calls the backend, and logs every call with the version it ran.

Entry points: `serving.app.run(host, port, store_url)` (what `llmreg serve` calls),
`serving.app.create_app(config)`, `serving.call_metrics.summarize_calls(store_url, name, env)`
(`experiment=` / `by_experiment=` for A/B experiments configured under `experiments:`).
"""


def _release() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return "unknown"
    try:
        return version("llm-registry")
    except PackageNotFoundError:
        return "unknown"


LLMREG_VERSION = _release()  # what /version and system_fingerprint name
