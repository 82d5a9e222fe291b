"""Command steps (Azure ML SDK v1's CommandStep) in the pure model: the rules YAML and SDK share.

A command is a list of words, the first one the program, run without a shell (so a path with spaces
stays one word and nothing is interpreted twice); a command string is split into words as a POSIX shell
would (quotes respected), references kept whole even with spaces inside their braces.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import TYPE_CHECKING, Final

from airflow_mlpipelines.exceptions import DefinitionError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.model import Argument

KIND: Final = "command"
COMMAND_HINT: Final = (
    "command: \"python train.py --data ${{inputs.raw}}\" or a list of words; for pipes or '&&' run "
    "a shell yourself: [bash, -c, '...']"
)
_REF_TEXT = re.compile(r"\$\{\{.*?\}\}")
_HOLE = "\x00{}\x00"


def split_words(text: str, *, location: SourceLocation | None, step: str, field: str) -> list[str]:
    """``text`` as words, POSIX shell quoting rules; a ``${{...}}`` reference is never split."""
    refs: list[str] = []

    def hole(match: re.Match[str]) -> str:
        refs.append(match.group(0))
        return _HOLE.format(len(refs) - 1)

    try:
        words = shlex.split(_REF_TEXT.sub(hole, text), comments=False, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise DefinitionError(
            f"cannot split the command into words: {exc}", location=location, step=step, field=field
        ) from None
    return [re.sub("\x00(\\d+)\x00", lambda m: refs[int(m.group(1))], w) for w in words]


SHELL_OPERATORS: Final = frozenset({"&&", "||", "|", ";", ">", ">>", "<", "2>", "2>&1", "&"})
"""Words a shell would interpret; without a shell they would reach the program as literal arguments."""


def check_command(words: Sequence[Argument], *, location: SourceLocation | None, step: str) -> None:
    """A command needs a program: at least one word, the first one not empty; and no bare shell
    operator (``python a.py && python b.py`` would run ``a.py`` with the arguments ``&&``, ``python``...)."""
    if not words or str(words[0]) == "":
        raise DefinitionError(
            "the command is empty", location=location, step=step, field="command", hint=COMMAND_HINT
        )
    for i, word in enumerate(words):
        if not word.refs and str(word) in SHELL_OPERATORS:
            raise DefinitionError(
                f"the command has the shell operator {str(word)!r}, but commands run without a shell",
                location=location,
                step=step,
                field=f"command[{i}]",
                hint=COMMAND_HINT,
            )


def default_name(first_word: str) -> str:
    """SDK v1 named an unnamed CommandStep after the command's first word (here without folder or
    extension, so it is a valid Airflow id: ``./prep.sh`` -> ``prep``)."""
    return os.path.splitext(os.path.basename(first_word))[0] or first_word
