"""LoRA step pieces that run fast: the label-only loss mask and the step's input checks."""
from __future__ import annotations

from pathlib import Path

from training import lora
from training.lora import encode_label_examples


def test_only_the_label_token_carries_loss(tiny_base_dir, template):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base_dir)
    texts = ["my parcel is late", "i cannot reset my password please help"]
    batch = encode_label_examples(tokenizer, template, texts, ["shipping", "account"])
    for row, (text, label) in enumerate(zip(texts, ["shipping", "account"])):
        prompt_len = len(tokenizer(template.render(text=text))["input_ids"])
        scored = (batch.labels[row] != -100).nonzero().flatten().tolist()
        assert scored == [prompt_len]  # exactly one position: right after the prompt
        label_id = tokenizer.convert_tokens_to_ids(label)
        assert batch.labels[row, prompt_len] == label_id == batch.input_ids[row, prompt_len]
        assert batch.attention_mask[row].sum() == prompt_len + 1
    # Right padding: the shorter row ends in pads that take no loss.
    assert batch.input_ids[0, -1] == tokenizer.pad_token_id


def test_lora_main_without_a_base_model_says_what_to_run(tmp_path, small_splits, prompt_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(f"data: {{train_path: {small_splits[0]}, prompt_path: {prompt_path}}}\n")
    assert lora.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `python -m training.base_model` first" in err
    assert not Path("models").exists() and not Path("metrics").exists()


def test_lora_main_with_an_unknown_label_refuses(tmp_path, tiny_base_dir, prompt_path, capsys, monkeypatch):
    import pandas as pd

    from training.outputs import write_parquet

    monkeypatch.chdir(tmp_path)
    write_parquet(pd.DataFrame({"ticket_id": ["t1"], "text": ["my parcel is late"], "label": ["sales"],
                                "segment": ["eu"]}), "train.parquet")
    Path("params.yaml").write_text(
        f"data: {{train_path: train.parquet, prompt_path: {prompt_path}}}\nbase_model: {{output_dir: {tiny_base_dir}}}\n"
    )
    assert lora.main([]) == 2
    assert "label(s) ['sales'] outside" in capsys.readouterr().err
    assert not Path("models").exists()
