"""Deploy verbs: `vllm-command` prints the `vllm serve` line for a resolved version (the plan
itself is llmreg.serving.vllm_plan)."""
from __future__ import annotations

from llmreg.cli.context import EXIT_OK, STAGE_CHOICES, emit, open_registry


class VllmCommand:
    """Print the `vllm serve` command for the version holding a stage of an environment: the verified
    base model and LoRA adapter copies from the artifact store (one line; --json for the details)."""

    def arguments(self, p) -> None:
        p.add_argument("name", help="entry name, e.g. support-triage")
        p.add_argument("--env", default="default", help="environment (deployment target); default: default")
        p.add_argument("--stage", default=None, choices=STAGE_CHOICES, help="default: production")
        p.add_argument("--at", default=None, help="ISO-8601 time: the version that held the stage then")
        p.add_argument("--lora-name", default=None,
                       help="LoRA module name clients request; default: NAME@VERSION of the resolved entry")
        p.add_argument("--port", type=int, default=None, help="port for vllm serve")

    def run(self, args) -> int:
        from llmreg.serving.vllm_plan import vllm_plan

        plan = vllm_plan(open_registry(args), args.name, args.env, stage=args.stage, at=args.at,
                         lora_name=args.lora_name, port=args.port)
        emit(args, plan, plan["command"])
        return EXIT_OK
