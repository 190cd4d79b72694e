"""The rest of the release tuple through the CLI: register (the tokenizer is stored and verified
like any pinned file), diff levels, card, lineage and `vllm-command` reading the runtime."""
from __future__ import annotations

import json

from cli.test_cli import Cli
from llmreg.registry.artifacts import hash_path

ENTRY = """\
name: tuple-local
model: {{provider: local, id: tiny-base, uri: base, sha256: {base}}}
eval: {{suite: s, score: 0.95, run: r1}}
runtime: {{quantization: awq, dtype: bfloat16, max_model_len: 4096, tensor_parallel_size: 2,
          hardware: nvidia-h100-80gb, batch: {{max_num_seqs: 32}}}}
dependencies: {{lock: uv.lock, sha256: {lock}, summary: {{vllm: 0.11.0}}}}
tokenizer: {{uri: tok, sha256: {tok}}}
decoding: {{strategy: greedy}}
"""


def test_register_diff_card_lineage_and_vllm_command(tmp_path):
    cli = Cli(tmp_path)
    for folder, name in (("base", "config.json"), ("tok", "tokenizer.json")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(json.dumps({"folder": folder}))
    (tmp_path / "uv.lock").write_text("vllm==0.11.0\n")
    shas = {key: hash_path(tmp_path / path)[0] for key, path in (("base", "base"), ("tok", "tok"), ("lock", "uv.lock"))}
    cli.write("entry.yaml", ENTRY.format(**shas))
    cli("register", "entry.yaml", actor="alice")
    assert "tuple-local@1.0.0 tokenizer" in cli("verify", "tuple-local@1.0.0").stdout

    cli.write("gptq.yaml", ENTRY.format(**shas).replace("awq", "gptq"))
    diff = cli("diff", "tuple-local@1.0.0", "gptq.yaml").stdout
    assert "minor  runtime.quantization: \"awq\" -> \"gptq\"" in diff and diff.endswith("implies a minor bump\n")
    cli.write("deps.yaml", ENTRY.format(**shas).replace("0.11.0", "0.11.1"))
    assert "implies a patch bump" in cli("diff", "tuple-local@1.0.0", "deps.yaml").stdout

    card = cli("card", "tuple-local@1.0.0").stdout
    assert "## Serving configuration" in card and "awq, bfloat16, tp 2, max len 4096" in card
    graph = json.loads(cli("lineage", "tuple-local@1.0.0", "--format", "json").stdout)
    assert {"tokenizer", "dependencies", "runtime"} <= {n["kind"] for n in graph["nodes"]}

    cli.write("gates.yaml", "eval_threshold: 0.5\n")
    cli("gates", "set", "gates.yaml", actor="admin")
    cli("promote", "tuple-local@1.0.0", "--to", "staging", actor="ci")
    plan = cli("vllm-command", "tuple-local", "--stage", "staging", as_json=True).data
    argv = plan["argv"]
    for flag, value in (("--quantization", "awq"), ("--dtype", "bfloat16"), ("--max-model-len", "4096"),
                        ("--tensor-parallel-size", "2"), ("--max-num-seqs", "32")):
        assert argv[argv.index(flag) + 1] == value
    assert argv[argv.index("--tokenizer") + 1].endswith(shas["tok"])  # the verified stored copy
    assert plan["request"]["decoding"] == {"strategy": "greedy"}
