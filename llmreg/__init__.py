"""llm-registry: the core (llmreg.registry), the gateway (llmreg.serving) and the `llmreg` command (llmreg.cli)."""
