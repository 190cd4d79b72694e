"""`python -m llmreg` == `llmreg`."""
import sys

from llmreg.cli import main

sys.exit(main())
