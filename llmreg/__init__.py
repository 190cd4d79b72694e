"""The `llmreg` command line (see cli.py)."""
