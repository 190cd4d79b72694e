"""params.yaml sections: defaults, the repo's file, and one clear error per bad key."""
from __future__ import annotations

from pathlib import Path

import pytest

from training import corpus, splits
from training.errors import ParamsError
from training.params import (BaseModelParams, DataParams, LoraParams, load_base_model_params, load_data_params,
                             load_lora_params, load_params)

REPO = Path(__file__).resolve().parents[2]


def test_missing_file_means_defaults(tmp_path):
    assert load_data_params(tmp_path / "none.yaml") == DataParams()
    assert load_lora_params(tmp_path / "none.yaml") == LoraParams()


def test_repo_params_file_parses_and_keeps_the_documented_defaults():
    path = REPO / "params.yaml"
    assert load_data_params(path) == DataParams()
    assert load_base_model_params(path) == BaseModelParams()
    lora = load_lora_params(path)
    assert lora == LoraParams()
    assert (lora.r, lora.alpha, lora.lr, lora.steps, lora.target_modules) == (8, 16, 0.01, 300, ("q_proj", "v_proj"))
    base = load_base_model_params(path)
    assert base.hidden_size // base.num_heads == 32  # vLLM's CPU backend needs a supported head size


def test_sections_not_asked_for_keep_their_own_values(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("eval: {out: elsewhere.json}\nlora: {steps: 5}\n")
    assert load_lora_params(path).steps == 5
    assert load_params(path).eval.out == "elsewhere.json"


@pytest.mark.parametrize(
    "text, message",
    [
        ("lora: {stepz: 5}", "params.yaml: lora.stepz: unknown key; did you mean 'steps'?"),
        ("lora: {steps: five}", "params.yaml: lora.steps: input should be a valid integer"),
        ("lora: {steps: 0}", "params.yaml: lora.steps: input should be greater than 0, got 0"),
        ("lora: {lr: true}", "params.yaml: lora.lr: must be a number, not true/false"),
        ("lora: {target_modules: q_proj}", "params.yaml: lora.target_modules: input should be a valid tuple"),
        ("data: {eval_fraction: 1.0}", "params.yaml: data.eval_fraction: input should be less than 1"),
        ("data: [1, 2]", "params.yaml: data: input should be a valid dictionary"),
        ("base_model: {source: s3}", "params.yaml: base_model.source: input should be 'embedded', 'hf' or 'path'"),
        ("base_model: {hidden_size: 130}", "must be a multiple of base_model.num_heads"),
        ("base_model: {revision: 7}", "params.yaml: base_model.revision: input should be a valid string"),
        ("eval: {threshold: 0.9}", "params.yaml: eval.threshold: unknown key"),
        ("registry: {regression_tolerance: -1}", "params.yaml: registry.regression_tolerance: input should be greater"),
        ("[unclosed", "malformed YAML"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_main_with_bad_params_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text("data: {n_tickets: -3}\n")
    assert corpus.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.n_tickets: input should be greater than 0" in err
    assert not Path("data").exists()


def test_corpus_and_splits_mains_write_the_configured_paths(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(
        "data: {n_tickets: 300, raw_path: r/t.parquet, train_path: s/tr.parquet, eval_path: s/ev.parquet}\n"
    )
    assert corpus.main([]) == 0
    assert splits.main([]) == 0
    from training.outputs import read_parquet

    assert len(read_parquet("r/t.parquet")) == 300
    assert len(read_parquet("s/tr.parquet")) + len(read_parquet("s/ev.parquet")) == 300


def test_splits_main_without_raw_corpus_says_what_to_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert splits.main([]) == 2
    assert "run `python -m training.corpus` first" in capsys.readouterr().err
    assert not Path("data").exists()
