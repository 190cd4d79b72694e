"""A tiny random LlamaForCausalLM + WordLevel tokenizer (+ LoRA adapter) for eval tests.

Built in a few hundred milliseconds, saved with save_pretrained exactly as training/
saves the real one, so runners load it through the same code path. It is random:
tests check shapes, determinism and plumbing, never accuracy.
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path

LABELS = ("billing", "technical", "account", "shipping", "refund")
SEGMENTS = ("eu", "us", "apac")
WORDS = (
    "my", "card", "was", "charged", "twice", "app", "crashes", "on", "login", "reset",
    "password", "parcel", "late", "never", "arrived", "money", "back", "please", "invoice",
    "error", "screen", "email", "address", "change", "order", "return", "item", "broken",
)
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + ("ticket", ":", "label") + LABELS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece()  # joins word tokens with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
    )


def build_tiny_model(out_dir: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Save a base model to out_dir/base and a LoRA adapter to out_dir/adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    base_dir, adapter_dir = out_dir / "base", out_dir / "adapter"
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)

    with warnings.catch_warnings():  # peft 0.21 probes a property transformers 5 deprecated
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(
            model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
        )
    # LoRA B starts at zero (adapter == no-op); give it weights so tuned != base.
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(adapter_dir)
    return base_dir, adapter_dir


def make_eval_rows(n: int, *, seed: int = 0) -> dict[str, list]:
    """Columns of a synthetic eval split with the schema training/ writes."""
    rng = random.Random(seed)
    rows: dict[str, list] = {"ticket_id": [], "text": [], "label": [], "segment": []}
    for i in range(n):
        rows["ticket_id"].append(f"t{i:05d}")
        rows["text"].append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))))
        rows["label"].append(rng.choice(LABELS))
        rows["segment"].append(SEGMENTS[i % len(SEGMENTS)])
    return rows
