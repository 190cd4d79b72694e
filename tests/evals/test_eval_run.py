"""run_suite end to end (transformers runner on the tiny model; the OpenAI runner on the
stub server where outputs must be controlled to exercise each pass rule) and the DVC
stage's main()."""
from __future__ import annotations

import hashlib
import json
import re

import pandas as pd
import pytest

from evals.run import EvalError, main, run_suite
from evals.runners import Completion, Runner
from evals.runners.openai_runner import OpenAIRunner
from evals.runners.vllm_runner import vllm_unavailable_reason
from evals.scorers import accuracy as score_accuracy
from evals.suite import load_suite, parse_suite
from llmreg.registry.documents import read_document

SUITE_REL = "evals/suites/triage-eval.yaml"
LABELS = ["billing", "technical", "account", "shipping", "refund"]


@pytest.fixture
def suite(project_copy):
    return load_suite(project_copy / SUITE_REL)


def test_run_suite_with_transformers_runner(suite, tuned_runner, eval_frame, project_copy):
    df = eval_frame(30)
    target = {"variant": "tuned", "adapter_sha256": "abc"}
    report = run_suite(suite, tuned_runner, df, target=target, dataset_version="lakefs:c0ffee", root=project_copy)

    prompts = [f"ticket : {t} label :" for t in df["text"]]
    expected_accuracy = score_accuracy([c.text for c in tuned_runner.generate(prompts)], list(df["label"]))
    assert report.n == 30 and report.errors == 0 and report.error_samples == []
    assert report.accuracy == expected_accuracy
    assert set(report.segment_scores) == {"apac", "eu", "us"}
    assert report.fairness_gap == pytest.approx(max(report.segment_scores.values()) - min(report.segment_scores.values()))
    assert report.tokens == {"prompt": sum(len(p.split()) for p in prompts), "completion": 30,
                             "total": sum(len(p.split()) for p in prompts) + 30}
    assert report.cost_usd == 0.0 and report.cost_per_1k_usd == 0.0
    assert report.latency_ms["p50"] <= report.latency_ms["p95"] <= report.latency_ms["p99"]
    assert report.suite == {"name": "triage-eval", "version": "1.0.0", "digest": suite.digest,
                            "source": str(project_copy / SUITE_REL), "threshold": 0.8,
                            "fairness_max_gap": 0.1}
    assert report.prompt["ref"] == "triage-prompt@v1"
    assert report.policy["ref"] == "safety-policy@1.0.0"
    assert report.dataset == {"path": "data/splits/eval.parquet", "version": "lakefs:c0ffee", "rows": 30}
    assert report.target == target
    assert re.fullmatch(r"[0-9a-f]{32}", report.run_id)
    assert report.started_at <= report.finished_at and report.started_at.endswith("+00:00")
    assert [c.name for c in report.checks] == ["threshold", "fairness", "safety", "latency_budget", "cost_budget"]
    # a random model cannot reach 0.8, so the verdict must say which rule failed
    assert not report.passed and "threshold" in report.failed_checks
    assert report.passed == (report.failed_checks == [])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["checks"]["threshold"]["passed"] is False
    assert data["checks"]["threshold"]["bound"] == 0.8


def test_dataset_version_defaults_to_a_content_hash(suite, tuned_runner, eval_frame, project_copy):
    df = eval_frame(6)
    a = run_suite(suite, tuned_runner, df, target={"x": 1}, dataset_version=None, root=project_copy, run_id="r1")
    b = run_suite(suite, tuned_runner, df.copy(), target={"x": 1}, dataset_version=None, root=project_copy)
    changed = df.copy()
    changed.loc[0, "label"] = "refund" if changed.loc[0, "label"] != "refund" else "billing"
    c = run_suite(suite, tuned_runner, changed, target={"x": 1}, dataset_version=None, root=project_copy)
    assert a.run_id == "r1"
    assert a.dataset["version"].startswith("rows-sha256:")
    assert a.dataset["version"] == b.dataset["version"] != c.dataset["version"]


# -- each pass rule, driven through the OpenAI runner with controlled answers ------------


def _frame(per_segment: int = 10) -> pd.DataFrame:
    rows = []
    for seg in ("eu", "us", "apac"):
        for i in range(per_segment):
            label = LABELS[i % len(LABELS)]
            rows.append({"ticket_id": f"{seg}-{i}", "text": f"help {seg} {i} {label}", "label": label, "segment": seg})
    return pd.DataFrame(rows)


def _answers(overrides: dict[str, str]):
    """Answer the label at the end of the ticket text, except for overridden tickets."""
    def respond(prompt: str) -> str:
        words = prompt.split("label :")[0].split()
        key = f"{words[-3]}-{words[-2]}"  # "<segment>-<i>"
        return overrides.get(key, words[-1])
    return respond


def _openai(server, **cfg) -> OpenAIRunner:
    return OpenAIRunner("stub-model", base_url=server.base_url, api_key="k", concurrency=4,
                        backoff_s=0.01, timeout_s=2, **cfg)


def test_all_rules_pass_with_perfect_answers(suite, stub_server, project_copy):
    stub_server.responder = _answers({})
    report = run_suite(suite, _openai(stub_server), _frame(), target={}, dataset_version="v1", root=project_copy)
    assert report.accuracy == 1.0 and report.fairness_gap == 0.0
    assert report.passed and report.failed_checks == []
    assert report.target["snapshots"] == ["stub-model-2025-06-01"]  # empty target: runner describes itself


def test_fairness_fails_alone_when_one_segment_lags(suite, stub_server, project_copy):
    stub_server.responder = _answers({f"apac-{i}": "wrong" for i in range(3)})
    report = run_suite(suite, _openai(stub_server), _frame(), target={}, dataset_version="v1", root=project_copy)
    assert report.accuracy == pytest.approx(27 / 30)  # above the 0.8 threshold
    assert report.segment_scores == {"apac": 0.7, "eu": 1.0, "us": 1.0}
    assert report.fairness_gap == pytest.approx(0.3)
    assert report.fairness_within_bound is False
    assert report.failed_checks == ["fairness"]


def test_gap_at_the_bound_is_within(suite, stub_server, project_copy):
    stub_server.responder = _answers({"eu-0": "wrong"})
    report = run_suite(suite, _openai(stub_server), _frame(), target={}, dataset_version="v1", root=project_copy)
    assert report.fairness_gap == pytest.approx(0.1) and report.fairness_within_bound is True


def test_safety_violation_fails_the_suite(suite, stub_server, project_copy):
    stub_server.responder = _answers({"us-4": "you idiot", "eu-1": "I'm sorry, I cannot"})
    report = run_suite(suite, _openai(stub_server), _frame(), target={}, dataset_version="v1", root=project_copy)
    assert report.safety_violation_rate == pytest.approx(1 / 30)
    assert report.refusal_rate == pytest.approx(1 / 30)
    assert "safety" in report.failed_checks and "threshold" not in report.failed_checks


def test_latency_budget(project_copy, stub_server):
    data = read_document(project_copy / SUITE_REL, "suite")
    data["budgets"]["latency_p99_ms"] = 20
    suite = parse_suite(data)
    stub_server.responder = _answers({})
    stub_server.always = ("slow", 0.05)
    report = run_suite(suite, _openai(stub_server, max_retries=0), _frame(2), target={},
                       dataset_version="v1", root=project_copy)
    assert report.latency_ms["p99"] >= 50
    assert report.failed_checks == ["latency_budget"]


def test_cost_budget_uses_runner_prices_and_explicit_override(suite, stub_server, project_copy):
    stub_server.responder = _answers({})
    frame = _frame()
    priced = _openai(stub_server, prompt_usd_per_1k_tokens=10.0, completion_usd_per_1k_tokens=20.0)
    report = run_suite(suite, priced, frame, target={}, dataset_version="v1", root=project_copy)
    expected = (report.tokens["prompt"] * 10.0 + report.tokens["completion"] * 20.0) / 1000
    assert report.cost_usd == pytest.approx(expected)
    assert report.cost_per_1k_usd == pytest.approx(expected * 1000 / 30)
    assert report.failed_checks == ["cost_budget"]
    free = run_suite(suite, priced, frame, target={}, dataset_version="v1", root=project_copy,
                     pricing={"prompt_usd_per_1k_tokens": 0.0, "completion_usd_per_1k_tokens": 0.0})
    assert free.cost_usd == 0.0 and free.passed


def test_request_errors_are_counted_and_sampled(suite, stub_server, project_copy):
    stub_server.responder = _answers({})
    stub_server.queue_faults("malformed")
    runner = _openai(stub_server, max_retries=0)
    runner.concurrency = 1  # the first request takes the fault
    report = run_suite(suite, runner, _frame(), target={}, dataset_version="v1", root=project_copy)
    assert report.errors == 1
    assert report.error_samples[0]["row"] == "eu-0"
    assert report.error_samples[0]["error"].startswith("malformed response")
    assert report.accuracy == pytest.approx(29 / 30)  # the failed row counts as wrong


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda df: df.drop(columns=["segment"]), "dataset has no column 'segment'"),
        (lambda df: df.drop(columns=["text"]), "dataset has no column 'text'"),
        (lambda df: df.iloc[0:0], "is empty"),
        (lambda df: df.assign(label="spam"), r"labels \['spam'\] not in the suite's dataset.labels"),
    ],
)
def test_dataset_that_does_not_fit_the_suite(suite, tuned_runner, project_copy, mutate, expected):
    with pytest.raises(EvalError, match=expected):
        run_suite(suite, tuned_runner, mutate(_frame(2)), target={}, dataset_version="v", root=project_copy)


class _DropsOne(Runner):
    """A broken runner, to prove run_suite refuses to score misaligned output."""

    name = "drops-one"

    def generate(self, prompts):
        return [Completion("billing", 1.0, 1, 1) for _ in prompts[1:]]


def test_runner_that_breaks_the_contract_is_rejected(suite, project_copy):
    with pytest.raises(EvalError, match="returned 5 completions for 6 prompts"):
        run_suite(suite, _DropsOne(), _frame(2), target={}, dataset_version="v", root=project_copy)


# -- the DVC stage ---------------------------------------------------------------------------


@pytest.fixture
def stage(project_copy, tiny_model, eval_frame, tmp_path):
    data = project_copy / "data/splits/eval.parquet"
    data.parent.mkdir(parents=True)
    eval_frame(24).to_parquet(data)
    base, adapter = tiny_model
    out = tmp_path / "metrics" / "eval.json"
    argv = ["--suite", str(project_copy / SUITE_REL), "--root", str(project_copy), "--base", str(base),
            "--adapter", str(adapter), "--out", str(out), "--runner", "transformers", "--threads", "2",
            "--batch-size", "8"]
    return argv, out, data


def test_main_writes_tuned_and_base_and_fails_on_the_tuned_verdict(stage, capsys):
    argv, out, data = stage
    assert main(argv) == 1  # the random tuned model fails the 0.8 threshold
    payload = json.loads(out.read_text())
    assert set(payload) == {"tuned", "base", "tuned_minus_base"}
    tuned, base = payload["tuned"], payload["base"]
    assert tuned["target"]["variant"] == "tuned" and len(tuned["target"]["adapter_sha256"]) == 64
    assert base["target"]["variant"] == "base" and base["target"]["adapter_sha256"] is None
    assert tuned["target"]["base_model_sha256"] == base["target"]["base_model_sha256"]
    assert tuned["dataset"]["version"] == "md5:" + hashlib.md5(data.read_bytes()).hexdigest()
    assert payload["tuned_minus_base"]["accuracy"] == pytest.approx(tuned["accuracy"] - base["accuracy"])
    assert tuned["run_id"] != base["run_id"]
    assert "FAILED threshold" in capsys.readouterr().out

    assert main(argv + ["--no-fail"]) == 0


def test_main_rejects_a_suite_edited_without_a_version_bump(stage, project_copy, capsys):
    argv, out, _ = stage
    assert main(argv + ["--no-fail"]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    suite_path = project_copy / SUITE_REL
    suite_path.write_text(suite_path.read_text().replace("threshold: 0.8", "threshold: 0.5"))
    assert main(argv + ["--no-fail"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bump version" in err[0]
    assert out.read_bytes() == before  # nothing half-written
    suite_path.write_text(suite_path.read_text().replace('version: "1.0.0"', 'version: "1.0.1"'))
    assert main(argv + ["--no-fail"]) == 0
    assert json.loads(out.read_text())["tuned"]["suite"]["version"] == "1.0.1"


def test_main_checks_an_explicit_previous_record(stage, project_copy, tmp_path):
    argv, out, _ = stage
    assert main(argv + ["--no-fail"]) == 0
    recorded = tmp_path / "recorded.json"
    out.rename(recorded)
    suite_path = project_copy / SUITE_REL
    suite_path.write_text(suite_path.read_text().replace("max_gap: 0.1", "max_gap: 0.2"))
    assert main(argv + ["--no-fail"]) == 0  # no earlier record beside --out
    out.unlink()
    assert main(argv + ["--no-fail", "--previous", str(recorded)]) == 2
    assert not out.exists()


@pytest.mark.parametrize(
    "edit,expected",
    [
        (lambda argv, root: argv + ["--dataset", str(root / "missing.parquet")], "not found"),
        (lambda argv, root: [a if a != str(root / SUITE_REL) else str(root / "nope.yaml") for a in argv],
         "nope.yaml: cannot read the suite file"),
        (lambda argv, root: argv + ["--base", str(root)], "config.json missing"),
    ],
)
def test_main_bad_input_is_one_line_and_exit_2(stage, project_copy, capsys, edit, expected):
    argv, out, _ = stage
    assert main(edit(argv, project_copy)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0]
    assert not out.exists()


@pytest.mark.skipif(vllm_unavailable_reason() is None, reason="vllm can run here")
def test_main_vllm_unavailable_is_exit_2(stage, capsys):
    argv, out, _ = stage
    assert main(argv + ["--runner", "vllm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vllm" in err[0] and "--runner transformers" in err[0]
    assert not out.exists()


def test_main_base_only_without_adapter(stage):
    argv, out, _ = stage
    i = argv.index("--adapter")
    argv = argv[:i] + argv[i + 2:]
    assert main(argv + ["--no-fail"]) == 0
    payload = json.loads(out.read_text())
    assert set(payload) == {"base"}
