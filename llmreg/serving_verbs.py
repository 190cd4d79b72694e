"""Verbs for the gateway: `serve` runs it, `metrics` summarises what it logged per version,
`api-key` creates, revokes and lists the keys callers send (stored hashed, both audited)."""
from __future__ import annotations

import json


def cmd_serve(args) -> int:
    from llmreg.serving.app import run

    run(host=args.host, port=args.port, store_url=args.store, config_path=args.config,
        prompts_dir=args.prompts_dir, artifacts=args.artifacts, workers=args.workers)
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


def cmd_api_key_create(args) -> int:
    import sys

    from llmreg.cli.context import actor, open_registry
    from llmreg.registry.api_keys import KeyScopes

    scopes = KeyScopes(entries=tuple(_split(args.entries)), stages=tuple(_split(args.stages)), pinned=args.pinned,
                       choose_bucket=args.choose_bucket)
    key, secret = open_registry(args).create_api_key(args.name, actor=actor(args), scopes=scopes)
    if args.json:
        print(json.dumps({**key.public(), "secret": secret}, indent=2, sort_keys=True))
    else:
        print(secret)
    print(f"key {key.key_id} for {key.name}: shown once, recorded (signed, event #{key.created_seq}) only as its "
          "SHA-256; send it as 'Authorization: Bearer <key>'", file=sys.stderr)
    return 0


def cmd_api_key_revoke(args) -> int:
    from llmreg.cli.context import actor, open_registry

    key = open_registry(args).revoke_api_key(args.key_id, actor=actor(args), reason=args.reason)
    if args.json:
        print(json.dumps(key.public(), indent=2, sort_keys=True))
    else:
        print(f"revoked {key.key_id} ({key.name}) at {key.revoked_at} by {key.revoked_by} (event #{key.revoked_seq})")
    return 0


def cmd_api_key_list(args) -> int:
    from llmreg.cli.context import open_registry
    from llmreg.serving.api_keys import LEGACY_TABLE, legacy_key_count

    reg = open_registry(args)
    keys = [k.public() for k in reg.api_keys()]
    legacy = legacy_key_count(reg.store.url)
    if args.json:
        print(json.dumps(keys, indent=2, sort_keys=True))
    else:
        for k in keys:
            state = f"revoked {k['revoked_at']} by {k['revoked_by']}" if k["revoked_at"] else "active"
            print(f"{k['key_id']}  {k['name']:<24} entries={','.join(k['entries'])} stages={','.join(k['stages'])} "
                  f"pinned={k['pinned']} choose_bucket={k['choose_bucket']}  created {k['created_at']} by "
                  f"{k['created_by']}  {state}")
    if legacy:
        import sys

        print(f"note: {legacy} key(s) in the old table {LEGACY_TABLE} are no longer accepted; re-create the ones "
              "still needed with `llmreg api-key create`", file=sys.stderr)
    return 0


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_verbs(sub, verb) -> None:
    p = verb(sub, "serve", cmd_serve,
             "Run the OpenAI-compatible gateway: requests name an entry and stage (\"support-triage@production\"), "
             "the gateway resolves the pinned tuple, renders its prompt, applies its params, logs every call.",
             "llmreg serve --host 127.0.0.1 --port 8080")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--config", default=None, help="gateway YAML (upstreams, shadow, SLO guard); every key optional")
    p.add_argument("--prompts-dir", default=None, help="prompt templates directory; default: prompts/")
    p.add_argument("--workers", type=int, default=1,
                   help="gateway processes accepting on the one port (default 1); one per spare core keeps p99 "
                        "low under concurrency; /metrics adds up all of them")

    p = verb(sub, "metrics", cmd_metrics,
             "Per-version call summary from the gateway's log: calls, error rate, p50/p99 latency.",
             "llmreg metrics support-triage --env default")
    p.add_argument("name", nargs="?", help="entry name (optional with --experiment)")
    p.add_argument("--env", default=None, help="environment; default: all")
    p.add_argument("--experiment", default=None, help="only calls routed by this A/B experiment")
    p.add_argument("--by-experiment", action="store_true", help="split the entry's calls by experiment variant")
    p.add_argument("--since", default=None, help="ISO-8601 time: only calls after it")

    import argparse

    from llmreg.cli.context import Parser

    group = sub.add_parser("api-key", help="The gateway's API keys.", description="The gateway's API keys.",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    keys_sub = group.add_subparsers(dest="api_key_verb", metavar="ACTION", parser_class=Parser)
    p = verb(keys_sub, "create", cmd_api_key_create,
             "Create an API key for the gateway: printed once, stored only as its SHA-256, creation recorded with "
             "the actor. Scopes: entries, stages, pinned versions (NAME@1.2.0), choosing the canary bucket.",
             "llmreg api-key create checkout-service --entries support-triage --stages production --actor alice",
             writes=True)
    p.add_argument("name", help="what or who the key is for")
    p.add_argument("--entries", default="*", help="comma-separated entry names the key may call (default: all)")
    p.add_argument("--stages", default="production", help="comma-separated stages: production,canary,staging")
    p.add_argument("--pinned", action="store_true", help="may call pinned versions (NAME@X.Y.Z)")
    p.add_argument("--choose-bucket", action="store_true",
                   help="may choose its canary/experiment bucket (X-LLMReg-Caller, llmreg.caller, user)")
    p = verb(keys_sub, "revoke", cmd_api_key_revoke, "Revoke an API key (recorded with the actor and reason).",
             "llmreg api-key revoke 3f9a1c2b7d10 --reason rotated --actor bob", writes=True)
    p.add_argument("key_id")
    p.add_argument("--reason", default="", help="why (recorded)")
    verb(keys_sub, "list", cmd_api_key_list, "List the gateway's API keys (never their secrets or digests).",
         "llmreg api-key list --json")
