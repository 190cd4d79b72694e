"""Regular expressions compiled on first use, not at import.

The read verbs (`llmreg resolve`, `llmreg list`) import the modules that validate input but
never validate: compiling their ~30 patterns at import was a few ms of every cold start.
After the first call each method is the compiled pattern's own (set on the instance), so a
hot validation loop pays nothing for the laziness.
"""
from __future__ import annotations

import re

_METHODS = ("match", "fullmatch", "search", "sub", "subn", "split", "findall", "finditer")


class LazyPattern:
    """Behaves as `re.compile(pattern, flags)` (the methods and attributes used here)."""

    def __init__(self, pattern: str, flags: int = 0):
        self._args = (pattern, flags)

    def __getattr__(self, name: str):  # only for what is not on the instance yet
        if name.startswith("__") or name == "_args":
            raise AttributeError(name)
        compiled = re.compile(*self._args)
        for method in _METHODS:
            setattr(self, method, getattr(compiled, method))
        self.pattern, self.flags, self.groups = compiled.pattern, compiled.flags, compiled.groups
        self.groupindex = compiled.groupindex
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"LazyPattern({self._args[0]!r})"


def lazy_re(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A pattern compiled when first used (typed as the compiled pattern it stands for)."""
    return LazyPattern(pattern, flags)  # type: ignore[return-value]
