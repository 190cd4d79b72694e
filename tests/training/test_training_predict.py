"""Quick predictions: batching with left padding must not change what is generated."""
from __future__ import annotations

import pytest

from training.errors import TrainingError
from training.outputs import read_parquet
from training.predict import accuracy, load_model, predict_labels


def test_left_padded_batches_predict_what_single_prompts_predict(tiny_base_dir, small_splits):
    model, tokenizer = load_model(tiny_base_dir)
    texts = read_parquet(small_splits[1])["text"].tolist()[:24]
    # Prefixes of varied length: the next word differs between them, so padding bugs show.
    prompts = ["ticket : " + " ".join(t.split()[: 2 + i % 9]) for i, t in enumerate(texts)]
    one_by_one = predict_labels(model, tokenizer, prompts, batch_size=1)
    batched = predict_labels(model, tokenizer, prompts, batch_size=16)
    assert batched == one_by_one
    assert len(set(batched)) > 1


def test_base_model_does_not_know_the_labels(tiny_base_dir, small_splits, template):
    model, tokenizer = load_model(tiny_base_dir)
    frame = read_parquet(small_splits[1])
    predictions = predict_labels(model, tokenizer, [template.render(text=t) for t in frame["text"]])
    assert accuracy(predictions, frame["label"].tolist()) < 0.3


def test_accuracy_and_arguments_are_checked():
    assert accuracy(["a", "b"], ["a", "c"]) == 0.5
    with pytest.raises(TrainingError):
        accuracy([], [])
    with pytest.raises(TrainingError, match="batch_size"):
        predict_labels(None, None, ["x"], batch_size=0)


def test_missing_directories_are_named(tmp_path, tiny_base_dir):
    with pytest.raises(TrainingError, match="base model directory"):
        load_model(tmp_path / "none")
    with pytest.raises(TrainingError, match="adapter directory"):
        load_model(tiny_base_dir, tmp_path / "none")
