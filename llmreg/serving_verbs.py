"""Verbs for the gateway: `serve` runs it, `metrics` summarises what it logged per version."""
from __future__ import annotations

import json


def cmd_serve(args) -> int:
    from llmreg.serving.app import run

    run(host=args.host, port=args.port, store_url=args.store, config_path=args.config,
        prompts_dir=args.prompts_dir, artifacts=args.artifacts)
    return 0


def cmd_metrics(args) -> int:
    from llmreg.cli.context import open_registry as _open
    from llmreg.serving.call_metrics import format_summary, summarize_calls

    _open(args).close()  # the same store resolution as every verb, and a clear error if it cannot open
    if args.name is None and args.experiment is None:
        from llmreg.registry.errors import BadInput

        raise BadInput("name: give an entry NAME or --experiment NAME", field="name")
    summaries = summarize_calls(args.store, args.name, args.env, since=args.since,
                                experiment=args.experiment, by_experiment=args.by_experiment)
    if args.json:
        print(json.dumps([s.to_dict() for s in summaries], indent=2, sort_keys=True))
    else:
        print(format_summary(args.name or args.experiment, args.env, summaries))
    return 0


def add_verbs(sub, verb) -> None:
    p = verb(sub, "serve", cmd_serve,
             "Run the OpenAI-compatible gateway: requests name an entry and stage (\"support-triage@production\"), "
             "the gateway resolves the pinned tuple, renders its prompt, applies its params, logs every call.",
             "llmreg serve --host 127.0.0.1 --port 8080")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--config", default=None, help="gateway YAML (upstreams, shadow, SLO guard); every key optional")
    p.add_argument("--prompts-dir", default=None, help="prompt templates directory; default: prompts/")

    p = verb(sub, "metrics", cmd_metrics,
             "Per-version call summary from the gateway's log: calls, error rate, p50/p99 latency.",
             "llmreg metrics support-triage --env default")
    p.add_argument("name", nargs="?", help="entry name (optional with --experiment)")
    p.add_argument("--env", default=None, help="environment; default: all")
    p.add_argument("--experiment", default=None, help="only calls routed by this A/B experiment")
    p.add_argument("--by-experiment", action="store_true", help="split the entry's calls by experiment variant")
    p.add_argument("--since", default=None, help="ISO-8601 time: only calls after it")
