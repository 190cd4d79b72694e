"""The embedded base model's tokenizer, and the label-token check every base model must pass.

The tokenizer is word-level: the corpus is lowercase words separated by spaces, so one
word is one token and every label is guaranteed a single token. The vocabulary is counted
here rather than by `WordLevelTrainer` so that ties are broken by spelling, which keeps the
token ids (and so the model bytes) identical across runs and library versions.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from llmreg.registry.prompts import PromptTemplate
from training.errors import TokenizerError

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS)


def build_word_tokenizer(
    texts: Iterable[str],
    template: PromptTemplate,
    labels: Sequence[str],
    min_frequency: int = 2,
    model_max_length: int = 64,
) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over `texts`; template words and labels are always in the vocabulary.

    Words seen fewer than `min_frequency` times map to [UNK], so the model learns what an
    unknown word looks like (eval tickets carry typos the train split never saw).
    """
    counts = Counter(word for text in texts for word in text.lower().split())
    template_words = template.render(**{name: "" for name in template.variables}).lower().split()
    vocab: dict[str, int] = {}
    for word in [*SPECIAL_TOKENS, *template_words, *labels]:
        vocab.setdefault(word, len(vocab))
    for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if count >= min_frequency:
            vocab.setdefault(word, len(vocab))

    core = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        padding_side="left",  # generation appends after the prompt, so pads go in front
        model_max_length=model_max_length,
    )
    label_token_ids(tokenizer, labels, template.render(**{name: "x" for name in template.variables}))
    return tokenizer


def label_token_ids(tokenizer: PreTrainedTokenizerBase, labels: Sequence[str], sample_prompt: str) -> dict[str, int]:
    """Map each label to the one token that " " + label adds after a rendered prompt.

    Prediction is one greedy token, so a label that is several tokens, or [UNK], or that
    merges with the prompt's last token, cannot be predicted; that is an error here.
    """
    prompt_ids = tokenizer(sample_prompt)["input_ids"]
    ids: dict[str, int] = {}
    bad: list[str] = []
    for label in labels:
        full = tokenizer(sample_prompt + " " + label)["input_ids"]
        added = full[len(prompt_ids):]
        if full[: len(prompt_ids)] != prompt_ids or len(added) != 1 or added[0] == tokenizer.unk_token_id:
            bad.append(label)
        else:
            ids[label] = added[0]
    if bad:
        raise TokenizerError(
            f"tokenizer: label(s) {bad} are not exactly one known token after the prompt; "
            "use a base model whose tokenizer has them as single tokens, or rename the labels"
        )
    if len(set(ids.values())) != len(ids):
        raise TokenizerError(f"tokenizer: two labels map to the same token ({ids}); labels must be distinct tokens")
    return ids
