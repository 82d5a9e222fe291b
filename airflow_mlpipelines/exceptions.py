"""One exception tree for the provider: every error says what, where, and how to fix it."""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


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
        self.others: list[DefinitionError] = []
        """Further problems of the same definition (all of them are reported, not only the first)."""
        super().__init__(self._format())

    def also(self, others: list[DefinitionError]) -> None:
        """Report ``others`` too: each on its own lines after this one."""
        self.others = list(others)
        self.args = (self.__str__(),)

    def __str__(self) -> str:
        text = self._format()
        for other in self.others:
            text += "\n" + other._format()
        return text

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


class Problems:
    """Collects the :class:`DefinitionError` of each independent check, so a definition with several
    mistakes is reported with all of them at once (one fix-and-retry round, not one per mistake).

    ``with problems.each(): ...`` records the error a block raises and lets the caller go on with the next
    item; :meth:`raise_if_any` raises the first, carrying the others, sorted by file and line.
    """

    def __init__(self) -> None:
        self.found: list[DefinitionError] = []

    @contextlib.contextmanager
    def each(self) -> Iterator[None]:
        """Record a :class:`DefinitionError` raised in the block (with any it carries) and go on."""
        try:
            yield
        except DefinitionError as exc:
            for error in (exc, *exc.others):
                if error._format() not in {e._format() for e in self.found}:
                    self.found.append(error)
            exc.others = []

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_if_any(self) -> None:
        """Raise the first problem (by file and line) with all the others, if there is any."""
        if not self.found:
            return
        ordered = sorted(
            self.found,
            key=lambda e: (
                e.location is None,
                "" if e.location is None else e.location.file,
                0 if e.location is None or e.location.line is None else e.location.line,
            ),
        )
        first = ordered[0]
        first.also(ordered[1:])
        raise first


class ScheduleError(MLPipelinesError, ValueError):
    """A ``schedule`` value (a recurrence mapping or ``ScheduleRecurrence``) breaks a rule.

    ``field`` names the offending part (``interval``, ``week_days[1]``...); loaders turn it into a
    :class:`DefinitionError` at the definition's line for ``schedule.<field>``. A ``ValueError`` too, so
    callers that validate plain values (a schedule typed into a form) can catch it without this package.
    """

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        self.field = field
        self.reason = message
        self.hint = hint
        super().__init__(f"schedule.{field}: {message}" if field else message)

    @property
    def key(self) -> str | None:
        """The key of the schedule mapping the field is under (``week_days`` for ``week_days[1]``)."""
        return self.field.split("[")[0] if self.field else None

    def at(self, location: SourceLocation | None) -> DefinitionError:
        """This problem as a :class:`DefinitionError` at ``location``, field ``schedule.<field>``."""
        field = f"schedule.{self.field}" if self.field else "schedule"
        return DefinitionError(self.reason, location=location, field=field, hint=self.hint)


class StepExecutionError(MLPipelinesError):
    """A step cannot run or its user code failed (missing script or input, non-zero exit, killed).

    ``exit_code`` is the status a step's process should end with: the container entrypoint exits with it,
    so the official operators report it; it is carried here as data, never parsed out of the message.
    """

    exit_code: int = 3

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ScriptFailedError(StepExecutionError):
    """The user's script ran and exited non-zero (or was killed by a signal)."""

    exit_code = 1


class ComputeError(MLPipelinesError):
    """A step's compute target cannot be used at run time (daemon unreachable, provider missing)."""


class PlanError(StepExecutionError):
    """A step plan handed to the runner is not one this version understands (version, shape)."""


class StorageError(MLPipelinesError):
    """A datastore location cannot be read or written (unreadable, unknown connection, store down).

    Never raised for a location that is merely absent: callers tell "absent" (``None``/``False``) and
    "unreadable" (this error, naming the URL and, where known, the connection) apart.
    """


class DatasetRegistryError(MLPipelinesError):
    """A notebook's dataset or datastore operation failed (unknown name or version, a taken name, a file
    that would be replaced without ``overwrite``)."""


class LeaseError(MLPipelinesError):
    """A step's in-flight lease cannot be taken, kept or read (the store refused a conditional write)."""


class NoConditionalWritesError(LeaseError):
    """The store offers no conditional writes at all (only local disks and S3 do), as opposed to a store
    that failed one: callers may choose a weaker fallback for the first, never for the second."""


class ModelError(MLPipelinesError):
    """A model cannot be registered or read (bad name or path, a registry that cannot be written)."""


class ModelNotFoundError(ModelError, LookupError):
    """No registered model of that name or version; the message names the versions that exist."""


class FingerprintError(MLPipelinesError):
    """A value cannot be part of a fingerprint (it has no canonical JSON form)."""


class FrameError(MLPipelinesError):
    """A DataFrame cannot be stored or read back exactly (unsupported column, missing or corrupt file)."""


class StoredValueError(MLPipelinesError):
    """A stored XCom value (frame or JSON) is missing or does not match its reference."""


class ScriptResultError(MLPipelinesError):
    """An Execute Python Script's ``azureml_main`` returned something the module cannot turn into a frame."""


class ScriptContractError(MLPipelinesError):
    """An Execute Python Script does not follow the module's contract (no ``azureml_main``, a call that
    cannot bind the connected frames); the message says how to fix it."""


class BundleError(MLPipelinesError):
    """An Execute Python Script bundle zip is unsafe or too large (checked before anything is written)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return a 'did you mean ...?' hint for a misspelt name, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


class RequestError(MLPipelinesError):
    """A request to a published pipeline, an endpoint or a schedule that is refused.

    ``field`` names the part of the request at fault (``ParameterAssignments.alpha``); ``status`` is the
    HTTP status the plugin answers with (400 bad input, 404 unknown, 409 conflict).
    """

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status
