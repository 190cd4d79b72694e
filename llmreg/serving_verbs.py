"""Verbs for the gateway: `serve` runs it, `metrics` summarises what it logged per version,
`api-key` creates, revokes and lists the keys callers send (stored hashed, both audited)."""
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


def cmd_api_key(args) -> int:
    from llmreg.cli import _actor, _open
    from llmreg.registry.errors import BadInput
    from llmreg.serving.api_keys import KeyScopes, SqlKeyStore, create_key, revoke_key

    _open(args).close()  # the same store resolution as every verb
    store = SqlKeyStore(args.store)
    try:
        if args.action == "list":
            keys = [k.public() for k in store.keys()]
            if args.json:
                print(json.dumps(keys, indent=2, sort_keys=True))
            for k in [] if args.json else keys:
                state = f"revoked {k['revoked_at']} by {k['revoked_by']}" if k["revoked_at"] else "active"
                print(f"{k['key_id']}  {k['name']:<24} entries={','.join(k['entries'])} "
                      f"stages={','.join(k['stages'])} pinned={k['pinned']} choose_bucket={k['choose_bucket']}  "
                      f"{state}")
            return 0
        if not args.target:
            raise BadInput(f"target: `llmreg api-key {args.action}` needs a "
                           f"{'NAME (what the key is for)' if args.action == 'create' else 'KEY_ID'}", field="target")
        actor = _actor(args)
        if args.action == "create":
            scopes = KeyScopes(entries=tuple(_split(args.entries)), stages=tuple(_split(args.stages)),
                               pinned=args.pinned, choose_bucket=args.choose_bucket)
            key, secret = create_key(store, args.target, actor=actor, scopes=scopes)
            print(secret)
            print(f"key {key.key_id} for {key.name}: shown once, stored only as its SHA-256; send it as "
                  "'Authorization: Bearer <key>'", file=__import__("sys").stderr)
            return 0
        key = revoke_key(store, args.target, actor=actor, reason=args.reason)
        print(f"revoked {key.key_id} ({key.name}) at {key.revoked_at}")
        return 0
    finally:
        store.close()


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

    p = verb(sub, "metrics", cmd_metrics,
             "Per-version call summary from the gateway's log: calls, error rate, p50/p99 latency.",
             "llmreg metrics support-triage --env default")
    p.add_argument("name", nargs="?", help="entry name (optional with --experiment)")
    p.add_argument("--env", default=None, help="environment; default: all")
    p.add_argument("--experiment", default=None, help="only calls routed by this A/B experiment")
    p.add_argument("--by-experiment", action="store_true", help="split the entry's calls by experiment variant")
    p.add_argument("--since", default=None, help="ISO-8601 time: only calls after it")

    p = verb(sub, "api-key", cmd_api_key,
             "Create, revoke or list the gateway's API keys. A key is shown once at creation and stored only "
             "hashed; creation and revocation are recorded with the actor. Scopes: which entries and stages it "
             "may call, whether pinned versions (NAME@1.2.0) are allowed, whether it may choose its canary bucket.",
             "llmreg api-key create checkout-service --entries support-triage --stages production --actor alice",
             writes=True)
    p.add_argument("action", choices=("create", "revoke", "list"))
    p.add_argument("target", nargs="?", help="create: what the key is for; revoke: the key id")
    p.add_argument("--entries", default="*", help="comma-separated entry names the key may call (default: all)")
    p.add_argument("--stages", default="production", help="comma-separated stages: production,canary,staging")
    p.add_argument("--pinned", action="store_true", help="may call pinned versions (NAME@X.Y.Z)")
    p.add_argument("--choose-bucket", action="store_true",
                   help="may choose its canary/experiment bucket (X-LLMReg-Caller, llmreg.caller, user)")
    p.add_argument("--reason", default="", help="revoke: why (recorded)")
