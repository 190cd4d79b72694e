"""hosted-providers: three vendors pinned by snapshot, a provider change log with one qualified
and one rejected snapshot, and the draft entry the qualification produced (a major bump).

    python examples/hosted-providers/run.py [--store sqlite:///path.db --artifacts DIR]   (default: throwaway)

It records, through the public `Registry` API, what `llmreg providers discover` and
`llmreg providers qualify` record against the real vendors (see providers.yaml): each
vendor's model list, then a qualification run of the pinned suite per new snapshot, whose
report comes from reports/ here instead of the network. Then it prints the change log and
the draft with the `llmreg` commands a user would type.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
WATCHER = "system:provider-watch"  # the actor the discovery sensor and the qualify schedule use
VENDORS = ("openai", "anthropic", "google")
# What each vendor's GET /models listed for the followed families when discovery ran.
LISTED = {
    "openai": [{"snapshot": "gpt-4o-2024-08-06", "family": "gpt-4o"},
               {"snapshot": "gpt-4o-2024-11-20", "family": "gpt-4o"}],
    "anthropic": [{"snapshot": "claude-3-5-sonnet-20241022", "family": "claude-sonnet"},
                  {"snapshot": "claude-3-7-sonnet-20250219", "family": "claude-sonnet"}],
    "google": [{"snapshot": "gemini-1.5-pro-002", "family": "gemini-1.5-pro",
                "deprecation_date": "2025-04-29", "shutdown_date": "2025-09-24"}],
}
# The new snapshots a qualification run judged, and the production entry each one would replace.
QUALIFICATIONS = (
    ("openai", "gpt-4o-2024-11-20", "chat-openai"),
    ("anthropic", "claude-3-7-sonnet-20250219", "chat-anthropic"),
)


def qualify(reg, provider: str, snapshot: str, pinned_by: str) -> Any:
    """One qualification run: `qualifying`, then the verdict with its report; a qualified
    snapshot drafts a new version of the entry that pins the family in production."""
    report = json.loads((HERE / "reports" / f"qualify-{provider}-{snapshot}.json").read_text())
    suite = f"{report['suite']['name']}@{report['suite']['version']}"
    reg.record_provider_snapshot(provider, snapshot, "qualifying", actor=WATCHER, suite=suite,
                                 run=report["run_id"], trigger="schedule")
    status = "qualified" if report["passed"] else "rejected"
    drafts = []
    if status == "qualified":
        spec = reg.resolve(pinned_by, "default").spec.to_dict()  # what production runs now
        spec["model"] = {"provider": provider, "id": snapshot, "snapshot": snapshot}
        spec.pop("eval", None)  # the qualification report becomes the draft's eval
        drafts.append(spec)
    detail = ("all checks passed" if report["passed"] else
              f"failed {', '.join(report['failed_checks'])}: accuracy {report['accuracy']:g} "
              f"< {report['suite']['threshold']:g}, p99 {report['latency_ms']['p99']:g} ms")
    return reg.record_provider_snapshot(
        provider, snapshot, status, actor=WATCHER, suite=suite, run=report["run_id"], score=report["accuracy"],
        passed=report["passed"], failed_checks=report["failed_checks"], detail=detail, report=report,
        drafts=drafts)


def run(reg, llmreg: Callable[..., int] = lambda *argv: 0) -> dict[str, Any]:
    """The whole scenario on `reg`; `llmreg(*argv)` shows each step as the CLI prints it."""
    from llmreg.registry.documents import read_document

    suite = read_document(HERE / "evals/chat-eval.yaml", "suite")
    reg.register_suite(suite["name"], suite["version"], suite["threshold"], suite, actor="admin")
    for vendor in VENDORS:  # three vendors, each pinned by a dated snapshot, already in production
        reg.register_file(HERE / "entries" / f"chat-{vendor}.yaml", actor="admin", import_history=True)
    llmreg("list")

    for vendor in VENDORS:  # discovery: what each vendor lists now
        reg.record_provider_discovery(vendor, LISTED[vendor], actor=WATCHER)
    verdicts = {f"{p}/{s}": qualify(reg, p, s, entry) for p, s, entry in QUALIFICATIONS}
    llmreg("providers")

    drafted = [ref for event in verdicts.values() for ref in event.payload.get("drafts", [])]
    for ref in drafted:  # a draft is never promoted past staging automatically
        name, version = ref.split("@")
        llmreg("diff", f"{name}@{reg.resolve(name, 'default').version}", ref)
        reg.promote(name, version, "staging", actor="ci-bot")
        llmreg("resolve", name, "--stage", "staging")
    llmreg("resolve", "chat-anthropic")
    return {"verdicts": verdicts, "drafts": drafted}


def main(argv: list[str] | None = None) -> int:
    from llmreg.cli import main as llmreg_main
    from llmreg.registry.api import Registry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store URL; default: a throwaway SQLite file")
    parser.add_argument("--artifacts", help="artifact store folder; default: a throwaway one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"sqlite:///{tmp}/registry.db"
        artifacts = args.artifacts or f"{tmp}/artifacts"

        def llmreg(*words: str) -> int:
            print(f"\n$ llmreg {' '.join(words)}", flush=True)
            code = llmreg_main([*words, "--store", store, "--artifacts", artifacts])
            sys.stdout.flush()
            return code

        # One signing key per identity, as a team would hold them: the admin, the discovery
        # watcher and the CI bot each have their own (a throwaway keyring here).
        from llmreg.registry.keys import write_new_key

        os.environ.setdefault("LLMREG_KEYRING", f"{tmp}/keys")
        for who in ("admin", WATCHER, "ci-bot"):
            path = os.path.join(os.environ["LLMREG_KEYRING"], f"{who}.key")
            if not os.path.exists(path):
                write_new_key(path, comment=f"{who}@example")
        with Registry.open(store, artifacts=artifacts) as reg:
            result = run(reg, llmreg)
        print(f"\nqualified -> drafted {', '.join(result['drafts'])}; rejected snapshots drafted nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
