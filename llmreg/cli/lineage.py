"""What a version came from, for auditors and model hubs: `lineage` exports, `card` (model card)."""
from __future__ import annotations

from llmreg.cli.context import EXIT_OK, emit, open_registry, parse_ref


class Lineage:
    """Export a version's lineage (datasets -> training -> artifacts -> eval -> entry -> promotions)."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")
        p.add_argument("--format", choices=("json", "mermaid", "dot"), default="json")

    def run(self, args) -> int:
        from llmreg.registry import lineage as lin

        name, version = parse_ref(args.ref)
        graph = open_registry(args).lineage(name, version)
        render = {"json": lin.to_json, "mermaid": lin.to_mermaid, "dot": lin.to_dot}[args.format]
        if args.json and args.format != "json":
            emit(args, {"format": args.format, "text": render(graph)}, "")
        else:
            print(render(graph))
        return EXIT_OK


class Card:
    """Print a version's model card (Markdown, Hugging Face front matter)."""

    def arguments(self, p) -> None:
        p.add_argument("ref", help="NAME@VERSION")

    def run(self, args) -> int:
        name, version = parse_ref(args.ref)
        card = open_registry(args).card(name, version)
        emit(args, {"ref": f"{name}@{version}", "markdown": card}, card)
        return EXIT_OK
