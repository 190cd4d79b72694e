"""Every scenario's script, run as a user runs it: the installed `llmreg` binary, a throwaway store.

The scenario tests drive the same steps in-process with finer assertions; this checks the
scripts themselves still run end to end (a renamed flag or a changed file breaks them).
Each `llmreg` process costs ~0.3 s, so the seven scripts run concurrently, one per core.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# scenario -> a line its output must contain (the step the scenario exists to show)
SCRIPTS = {
    "support-triage": ("run.sh", "rolled back support-triage in default: production 1.1.0 -> 1.0.0"),
    "open-weights-finetune": ("run.sh", "--lora-modules triage-open-weights@1.0.0="),
    "hosted-providers": ("run.py", "qualified -> drafted chat-openai@4.0.0"),
    "rag-stack": ("run.sh", "registered kb-answers@1.1.0 (minor: "),
    "code-assistant": ("run.sh", "(canary in early-access, since"),
    "speech-transcription": ("run.sh", "failed its own suite checks: fairness"),
    "multimodal-moderation": ("run.sh", "no eval result for image-studio@1.1.0"),
}


def _run(scenario: str) -> tuple[str, subprocess.CompletedProcess]:
    script, _ = SCRIPTS[scenario]
    path = REPO / "examples" / scenario / script
    argv = ["bash", str(path)] if script.endswith(".sh") else [sys.executable, str(path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREG_")}
    env["LLMREG"] = str(BIN / "llmreg")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return scenario, subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_every_scenario_script_runs_end_to_end():
    assert sorted(SCRIPTS) == sorted(p.name for p in (REPO / "examples").iterdir() if p.is_dir())
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = dict(pool.map(_run, SCRIPTS))
    problems = []
    for scenario, done in results.items():
        expected, output = SCRIPTS[scenario][1], done.stdout + done.stderr  # refusals print on stderr
        if done.returncode != 0 or expected not in output or "Traceback" in done.stderr:
            problems.append(f"{scenario}: exit {done.returncode}, {expected!r} "
                            f"{'found' if expected in output else 'missing'}\n{done.stderr[-2000:]}")
    assert not problems, "\n\n".join(problems)
