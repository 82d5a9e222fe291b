"""Run ``python <script> <arguments>`` (or any command) in a child process, its output streamed by line."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from airflow_mlpipelines.exceptions import StepExecutionError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

Token = str | dict[str, str]
"""An argument part: literal text or ``{"input"|"output"|"parameter": name}`` (as in ``StepTask``)."""

STDERR_TAIL_LINES = 20


def resolve_arguments(
    arguments: Sequence[Sequence[Token]],
    *,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    parameters: Mapping[str, object],
) -> list[str]:
    """Substitute input/output paths and parameter values into the argument parts and join each argument."""
    pools: dict[str, Mapping[str, object]] = {"input": inputs, "output": outputs, "parameter": parameters}
    argv: list[str] = []
    for parts in arguments:
        text = []
        for part in parts:
            if isinstance(part, str):
                text.append(part)
                continue
            ((kind, name),) = part.items()
            pool = pools[kind]
            if name not in pool:
                raise StepExecutionError(f"argument refers to unknown {kind} '{name}'")
            text.append(_render_value(pool[name]))
        argv.append("".join(text))
    return argv


def signal_note(returncode: int) -> str:
    """`` (killed by SIGKILL ...)`` for a negative return code (the process died of a signal), else ''."""
    if returncode >= 0:
        return ""
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    oom = "; SIGKILL is often the out-of-memory killer" if -returncode == signal.SIGKILL else ""
    return f" (killed by {name}{oom})"


def _render_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass
class ScriptResult:
    """What a finished script left behind."""

    returncode: int
    stderr_tail: list[str]


class ChildProcess:
    """A user's command in its own process group, so ``terminate`` also stops what it started."""

    def __init__(
        self,
        *,
        command: Sequence[str],
        cwd: str,
        env: Mapping[str, str] | None = None,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
        grace_seconds: float = 10.0,
    ) -> None:
        self.grace_seconds = grace_seconds
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self._on_stdout = on_stdout
        self._on_stderr = on_stderr
        self._tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._proc: subprocess.Popen[str] | None = None

    def run(self) -> ScriptResult:
        """Start the script, stream both pipes to the callbacks and wait for it to exit."""
        self._proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        readers = [
            threading.Thread(
                target=self._pump, args=(self._proc.stdout, self._on_stdout, False), daemon=True
            ),
            threading.Thread(target=self._pump, args=(self._proc.stderr, self._on_stderr, True), daemon=True),
        ]
        for reader in readers:
            reader.start()
        returncode = self._proc.wait()
        for reader in readers:
            reader.join()
        return ScriptResult(returncode, list(self._tail))

    def _pump(self, stream: IO[str] | None, sink: Callable[[str], None], keep_tail: bool) -> None:
        if stream is None:
            return
        for line in stream:
            line = line.rstrip("\n")
            if keep_tail:
                self._tail.append(line)
            sink(line)
        stream.close()

    @property
    def pid(self) -> int | None:
        """The script's process id, which is also its process group id (None before it starts)."""
        return self._proc.pid if self._proc is not None else None

    def terminate(self, grace_seconds: float | None = None) -> None:
        """SIGTERM the script's process group, then SIGKILL it if it has not exited within the grace time."""
        grace_seconds = self.grace_seconds if grace_seconds is None else grace_seconds
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ScriptProcess(ChildProcess):
    """``python -u <script> <argv>``: a PythonScriptStep's script, output unbuffered."""

    def __init__(
        self,
        *,
        python: str,
        script: str,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[str, str] | None = None,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
        grace_seconds: float = 10.0,
    ) -> None:
        super().__init__(
            command=[python, "-u", script, *argv],
            cwd=cwd,
            env=env,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            grace_seconds=grace_seconds,
        )
