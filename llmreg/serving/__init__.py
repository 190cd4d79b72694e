"""Registry-aware OpenAI-compatible gateway.

Applications call `POST /v1/chat/completions` with `"model": "support-triage@production"`;
the gateway checks the caller's API key, resolves the pinned release tuple from the registry,
builds the backend request with llmreg.registry.generation (the mapping the eval runners
use), calls the backend (whole or streamed), and logs every call with the version it ran.

Entry points: `llmreg.serving.app.run(host, port, store_url)` (what `llmreg serve` calls),
`llmreg.serving.app.create_app(config)`, `llmreg.serving.api_keys` (create_key, revoke_key),
`llmreg.serving.call_metrics.summarize_calls(store_url, name, env)` (`experiment=` /
`by_experiment=` for A/B experiments configured under `experiments:`).
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
