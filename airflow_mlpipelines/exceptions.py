"""One exception tree for the provider: every error says what, where, and how to fix it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


class MLPipelinesError(Exception):
    """Base class of every error this provider raises on purpose."""


class MLPipelinesWarning(UserWarning):
    """An argument was accepted and kept, but has no effect (yet), or a setting was ignored."""


@dataclass(frozen=True)
class SourceLocation:
    """Where in a user's definition something was written: file and, when known, line."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


class DefinitionError(MLPipelinesError):
    """A pipeline definition is invalid; the message names file:line, step and field.

    The structured attributes let the CLI and tests check *where* an error was reported without
    parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        location: SourceLocation | None = None,
        step: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.location = location
        self.step = step
        self.field = field
        self.hint = hint
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.location is not None:
            where.append(str(self.location))
        if self.step is not None:
            where.append(f"step '{self.step}'")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = f"{', '.join(where)}: {self.reason}" if where else self.reason
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class StepExecutionError(MLPipelinesError):
    """A step's user code failed (non-zero exit, killed, or missing script)."""


class ComputeError(MLPipelinesError):
    """A step's compute target cannot be used at run time (daemon unreachable, provider missing)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return a 'did you mean ...?' hint for a misspelt name, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
