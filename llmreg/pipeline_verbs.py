"""Verbs that reach past the registry into the project's pipeline: `reproduce`."""
from __future__ import annotations

import json
import sys


def cmd_reproduce(args) -> int:
    from llmreg.cli.context import open_registry as _open, parse_ref as _ref
    from training.errors import TrainingError
    from training.reproduce import reproduce

    name, version = _ref(args.ref)
    reg = _open(args)
    entry = reg.get(name, version)
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    how = "dvc pull from the DVC remote" if args.from_remote else "dvc repro --force"
    log(f"reproducing {entry.ref} from commit {entry.spec.lineage.get('git_commit', '?')[:12]} "
        f"({how} in a temporary worktree)")
    try:
        report = reproduce(entry, repo=args.repo, dvc=args.dvc, keep=args.keep, from_remote=args.from_remote, log=log,
                           artifact_store=reg.artifacts)
    except TrainingError as exc:
        print(f"llmreg reproduce: refused: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return 0 if report.ok else 1
    for warning in report.warnings:
        print(f"warning: {warning}")
    for c in [*report.comparisons, *([report.eval] if report.eval else [])]:
        mark = "same" if c.ok else "DIFFERS"
        print(f"  {c.component:<20} {mark:<8} {c.path}" + ("" if c.ok else f"\n      registered {c.expected}\n      rebuilt    {c.actual}"))
    for c in report.stored:
        print(f"  stored {c.component:<13} {'same' if c.ok else 'DIFFERS':<8} {c.path}"
              + ("" if c.ok else f"\n      registered {c.expected}\n      stored now {c.actual}"))
    if not report.ok:
        if report.environment_differences:
            print("  environment that differs from the training run:")
            for line in report.environment_differences:
                print(f"    {line}")
        if report.rebuilt_score is not None:
            print(f"  eval score: registered {report.registered_score}, rebuilt {report.rebuilt_score} "
                  f"(tolerance {report.tolerance})")
    verdict = {"bit-for-bit": "restored bit-for-bit from the DVC remote" if report.mode == "remote"
               else "reproduced bit-for-bit",
               "functionally reproduced": "functionally reproduced (bytes differ, eval score within tolerance)",
               "different": "NOT reproduced: different"}[report.verdict]
    print(f"{entry.ref}: {verdict} ({report.seconds:.0f} s)")
    return 0 if report.ok else 1


def add_verbs(sub, verb) -> None:
    p = verb(sub, "reproduce", cmd_reproduce,
             "Rebuild a version from the commit in its lineage (git worktree + dvc repro --force), or restore it "
             "from the DVC remote, and compare every component's checksum with the registered one.",
             "llmreg reproduce support-triage@1.0.0")
    p.add_argument("ref", help="NAME@VERSION")
    p.add_argument("--repo", default=".", help="the git checkout holding that commit and the DVC cache; default: .")
    p.add_argument("--dvc", default=None, help="dvc executable; default: $LLMREG_DVC or .tools/dvc/bin/dvc")
    p.add_argument("--from-remote", action="store_true",
                   help="restore the outputs from the DVC remote (dvc pull) instead of rebuilding them")
    p.add_argument("--keep", action="store_true", help="keep the worktree for inspection")
