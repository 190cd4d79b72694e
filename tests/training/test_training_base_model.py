"""The base model step: hf-source validation, the embedded architecture, the local-path source."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import base_model
from training.base_model import build_base_model, validate_hf_source
from training.errors import BaseModelSourceError
from training.params import BaseModelParams

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_pinned_hf_source_is_accepted():
    assert validate_hf_source("owner/model", SHA) == ("owner/model", SHA)


@pytest.mark.parametrize(
    "repo_id, revision, message",
    [
        ("owner/model", "main", "base_model.revision 'main' is not a commit sha"),
        ("owner/model", "v1.0", "base_model.revision 'v1.0' is not a commit sha"),
        ("owner/model", SHA[:12], "is not a commit sha"),
        ("owner/model", SHA.upper(), "is not a commit sha"),
        ("owner/model", SHA + "0", "is not a commit sha"),
        ("owner/model", None, "base_model.revision is required when source is hf"),
        (None, SHA, "base_model.repo_id is required when source is hf"),
        ("../../etc", SHA, "is not a hub repo id"),
    ],
)
def test_floating_or_malformed_hf_references_are_refused(repo_id, revision, message):
    with pytest.raises(BaseModelSourceError) as info:
        validate_hf_source(repo_id, revision)
    assert message in str(info.value)


def test_hf_source_with_branch_fails_before_writing_anything(tmp_path, prompt_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(
        f"data: {{prompt_path: {prompt_path}}}\nbase_model: {{source: hf, repo_id: owner/model, revision: main}}\n"
    )
    assert base_model.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "base_model.revision 'main' is not a commit sha" in err
    assert not Path("models").exists() and not Path("metrics").exists()


def test_path_source_requires_an_existing_directory(tmp_path, small_splits, prompt_path):
    with pytest.raises(BaseModelSourceError, match="base_model.path is required"):
        build_base_model(BaseModelParams(source="path"), small_splits[0], prompt_path, tmp_path / "out")
    with pytest.raises(BaseModelSourceError, match="is not a directory"):
        build_base_model(BaseModelParams(source="path", path=str(tmp_path / "nope")), small_splits[0],
                         prompt_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_embedded_base_has_the_required_architecture(tiny_base_dir):
    config = json.loads((tiny_base_dir / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (128, 2, 4)
    assert config["head_dim"] == 32
    assert (tiny_base_dir / "model.safetensors").is_file()
    assert (tiny_base_dir / "tokenizer.json").is_file()
    # Nothing machine-specific in what gets checksummed.
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        assert "/tmp" not in (tiny_base_dir / name).read_text()


def test_path_source_loads_and_resaves_a_local_model(tiny_base_dir, tmp_path, small_splits, prompt_path, template):
    from training.predict import load_model

    params = BaseModelParams(source="path", path=str(tiny_base_dir), name="local/copy")
    metrics = build_base_model(params, small_splits[0], prompt_path, tmp_path / "copy")
    assert metrics["source"] == "path" and metrics["name"] == "local/copy"
    assert len(metrics["sha256"]) == 64
    original, tok_a = load_model(tiny_base_dir)
    copy, tok_b = load_model(tmp_path / "copy")
    for (name, a), (_, b) in zip(original.state_dict().items(), copy.state_dict().items(), strict=True):
        assert a.equal(b), name
    prompt = template.render(text="my parcel is late")
    assert tok_a(prompt)["input_ids"] == tok_b(prompt)["input_ids"]


def test_path_source_that_is_not_a_model_fails_with_one_clear_error(tmp_path, small_splits, prompt_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BaseModelSourceError, match="base_model: cannot load") as info:
        build_base_model(BaseModelParams(source="path", path=str(empty)), small_splits[0], prompt_path,
                         tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
