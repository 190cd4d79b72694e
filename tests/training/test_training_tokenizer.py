"""The embedded word-level tokenizer: single-token labels, [BOS], [UNK], stable ids."""
from __future__ import annotations

import pytest

from training.corpus import LABELS, build_corpus
from training.errors import TokenizerError
from training.tokenizer import BOS, UNK, build_word_tokenizer, label_token_ids


@pytest.fixture(scope="module")
def texts():
    return build_corpus(500, seed=11)["text"].tolist()


@pytest.fixture(scope="module")
def tokenizer(texts, template):
    return build_word_tokenizer(texts, template, LABELS)


def test_every_label_is_one_distinct_known_token_after_the_prompt(tokenizer, template):
    ids = label_token_ids(tokenizer, LABELS, template.render(text="my parcel is late"))
    assert set(ids) == set(LABELS)
    assert len(set(ids.values())) == len(LABELS)
    for label, token_id in ids.items():
        assert tokenizer.convert_ids_to_tokens(token_id) == label
        assert tokenizer(" " + label, add_special_tokens=False)["input_ids"] == [token_id]


def test_prompt_starts_with_bos_and_unknown_words_map_to_unk(tokenizer, template):
    ids = tokenizer(template.render(text="my zzqx parcel"))["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens == [BOS, "ticket", ":", "my", UNK, "parcel", "label", ":"]
    assert tokenizer.padding_side == "left"


def test_rare_words_fall_below_min_frequency(template):
    tok = build_word_tokenizer(["alpha alpha beta"], template, LABELS, min_frequency=2)
    vocab = tok.get_vocab()
    assert "alpha" in vocab and "beta" not in vocab


def test_vocabulary_is_deterministic_with_ties_broken_by_spelling(texts, template):
    a = build_word_tokenizer(texts, template, LABELS).get_vocab()
    b = build_word_tokenizer(list(texts), template, LABELS).get_vocab()
    assert a == b
    tie = build_word_tokenizer(["zeta alpha", "alpha zeta"], template, LABELS, min_frequency=1).get_vocab()
    assert tie["alpha"] < tie["zeta"]


def test_a_label_outside_the_vocabulary_is_refused(tokenizer, template):
    with pytest.raises(TokenizerError, match=r"\['escalations'\] are not exactly one known token"):
        label_token_ids(tokenizer, (*LABELS, "escalations"), template.render(text="x"))


def test_saved_tokenizer_reloads_identically(tokenizer, template, tmp_path):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    prompt = template.render(text="i was charged twice for my subscription")
    assert again(prompt)["input_ids"] == tokenizer(prompt)["input_ids"]
    assert again.padding_side == "left"
    assert (again.pad_token, again.unk_token, again.bos_token, again.eos_token) == ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
