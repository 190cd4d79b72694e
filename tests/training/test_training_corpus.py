"""The synthetic corpus and its stratified split: determinism, schema, and the designed noise."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from training.corpus import COLUMNS, LABELS, SEGMENTS, build_corpus, split_corpus
from training.errors import TrainingError


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return build_corpus(4000, seed=42)


def test_same_seed_same_corpus_other_seed_other_corpus(corpus):
    pd.testing.assert_frame_equal(corpus, build_corpus(4000, seed=42))
    assert not corpus["text"].equals(build_corpus(4000, seed=43)["text"])


def test_pinned_first_ticket_guards_against_generator_drift(corpus):
    # If this changes, every downstream artifact hash changes: bump deliberately, never by accident.
    assert corpus.iloc[0].to_dict() == {
        "ticket_id": "tkt-000000",
        "text": "hello the vat on my invoice looks wrong many thanks",
        "label": "billing",
        "segment": "eu",
    }


def test_schema(corpus):
    assert tuple(corpus.columns) == COLUMNS
    assert len(corpus) == 4000
    assert corpus["ticket_id"].is_unique
    assert all(isinstance(v, str) for col in COLUMNS for v in corpus[col])
    assert set(corpus["label"]) == set(LABELS)
    assert set(corpus["segment"]) == set(SEGMENTS)
    words = corpus["text"].str.split().str.len()
    assert words.min() >= 8 and words.max() <= 20
    assert all(re.fullmatch(r"[a-z]+( [a-z]+)*", t) for t in corpus["text"])


def test_labels_and_segments_are_roughly_balanced(corpus):
    shares = corpus["label"].value_counts(normalize=True)
    assert shares.min() > 0.15 and shares.max() < 0.25
    seg = corpus["segment"].value_counts(normalize=True)
    assert seg["us"] > seg["eu"] > seg["apac"] > 0.15


def test_regions_phrase_things_differently(corpus):
    def share(segment: str, word: str) -> float:
        texts = corpus.loc[corpus["segment"] == segment, "text"]
        return texts.str.contains(rf"\b{word}\b").mean()

    assert share("us", "package") > 0.02 and share("eu", "package") == 0 and share("apac", "package") == 0
    assert share("apac", "kindly") > 0.1 and share("us", "kindly") == 0
    assert share("apac", "gst") > 0 and share("eu", "vat") > 0 and share("us", "gst") == 0


def test_labels_are_not_keyword_lookups(corpus):
    # Label words appear in tickets of other labels, so "contains the label word" is not the answer.
    for label in ("billing", "refund", "account", "shipping"):
        others = corpus.loc[corpus["label"] != label, "text"]
        assert others.str.contains(rf"\b{label}\b").sum() > 10, label


def test_bad_size_is_refused():
    with pytest.raises(TrainingError, match="n must be a positive integer"):
        build_corpus(0)


def test_split_is_stratified_disjoint_complete_and_ordered(corpus):
    train, evals = split_corpus(corpus, 0.2, seed=42)
    assert len(train) + len(evals) == len(corpus)
    assert set(train["ticket_id"]).isdisjoint(evals["ticket_id"])
    counts = corpus["label"].value_counts()
    for label, n in counts.items():
        assert (evals["label"] == label).sum() == round(n * 0.2)
    # Both halves keep corpus order, so they are a pure function of the inputs.
    assert list(train["ticket_id"]) == sorted(train["ticket_id"])
    assert list(evals["ticket_id"]) == sorted(evals["ticket_id"])
    assert set(evals["segment"]) == set(SEGMENTS)


def test_split_is_deterministic_and_seed_dependent(corpus):
    a_train, a_eval = split_corpus(corpus, 0.2, seed=1)
    b_train, b_eval = split_corpus(corpus, 0.2, seed=1)
    pd.testing.assert_frame_equal(a_eval, b_eval)
    pd.testing.assert_frame_equal(a_train, b_train)
    assert set(split_corpus(corpus, 0.2, seed=2)[1]["ticket_id"]) != set(a_eval["ticket_id"])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_refuses_fractions_outside_zero_one(corpus, fraction):
    with pytest.raises(TrainingError, match="eval_fraction"):
        split_corpus(corpus, fraction, seed=1)


def test_split_names_missing_columns():
    with pytest.raises(TrainingError, match="missing column"):
        split_corpus(pd.DataFrame({"text": ["a"]}), 0.2, seed=1)
