"""What the provider code relies on from an OpenAI-compatible server, checked against both the
in-process stub (unit tests) and the real vLLM server (integration test)."""
from __future__ import annotations

from typing import Any

import httpx


def check_models_listing(base_url: str, *, expect: set[str]) -> list[dict[str, Any]]:
    response = httpx.get(base_url.rstrip("/") + "/models", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    ids = set()
    for item in body["data"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item["object"] == "model"
        assert isinstance(item["owned_by"], str)
        assert isinstance(item["created"], int)
        ids.add(item["id"])
    assert expect <= ids, f"listed {sorted(ids)}, expected at least {sorted(expect)}"
    return body["data"]


def check_completion(base_url: str, model: str, prompt: str = "ticket : my card was charged twice label :") -> str:
    response = httpx.post(base_url.rstrip("/") + "/completions", timeout=30, json={
        "model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == model  # the runner compares this with the snapshot it asked for
    text = body["choices"][0]["text"]
    assert isinstance(text, str)
    assert isinstance(body["usage"]["prompt_tokens"], int)
    return text


def check_unknown_model(base_url: str) -> None:
    response = httpx.post(base_url.rstrip("/") + "/completions", timeout=30, json={
        "model": "no-such-model-2026-01-01", "prompt": "ticket : x label :", "max_tokens": 1})
    assert response.status_code == 404, response.text
    assert "does not exist" in response.json()["error"]["message"]
