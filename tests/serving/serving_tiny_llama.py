"""A tiny random LlamaForCausalLM + WordLevel tokenizer + LoRA adapter, saved the way
training/ saves the demo model (save_pretrained). Random weights: tests check plumbing,
checksums and determinism, never accuracy."""
from __future__ import annotations

import warnings
from pathlib import Path

WORDS = ("ticket", ":", "label", "billing", "technical", "account", "my", "card", "was", "charged", "twice",
         "parcel", "never", "arrived", "login", "fails")


def build(out_dir: Path, *, seed: int = 0, max_positions: int = 64, hidden_size: int = 16) -> tuple[Path, Path]:
    """hidden_size 64 (two heads of 32) is the smallest shape vLLM's CPU backend accepts."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
    core = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(specials + WORDS)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="[BOS]", eos_token="[EOS]")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=max_positions,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config)
    base_dir, adapter_dir = out_dir / "base", out_dir / "adapter"
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                      task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(adapter_dir)
    return base_dir, adapter_dir
