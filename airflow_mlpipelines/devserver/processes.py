"""Start a server process in its own session and stop it with everything it started (by session id)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

log = logging.getLogger(__name__)


def _running(proc: psutil.Process) -> bool:
    """Whether a process still runs (a zombie only waits to be reaped by its parent)."""
    with contextlib.suppress(psutil.Error):
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    return False


class ServerProcess:
    """One command started with ``start_new_session`` so its whole process tree can be found and stopped.

    Stopping never matches processes by name: only members of the session (and their descendants that
    left it with ``setsid``) are signalled.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.user = user
        """Run as this account (e.g. PostgreSQL, which refuses to run as root); None: as ourselves."""
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the command, its output appended to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        as_user: dict[str, Any] = {}
        if self.user is not None:
            import pwd

            account = pwd.getpwnam(self.user)
            as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **as_user,
            )

    def alive(self) -> bool:
        """Whether the command itself is still running."""
        return self.proc is not None and self.proc.poll() is None

    def processes(self) -> list[psutil.Process]:
        """Every live process of the session, with descendants that left it."""
        if self.proc is None:
            return []
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) == self.proc.pid:
                    found.update((p.pid, p) for p in (proc, *proc.children(recursive=True)))
            except (OSError, psutil.Error):
                continue
        return [p for p in found.values() if _running(p)]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process of the session at once (a crash, for fault tests)."""
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def stop(self, grace: float = 5) -> None:
        """SIGTERM every process of the session, wait up to ``grace`` s, then SIGKILL what is left."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5), (signal.SIGKILL, 5)):
            if not (procs := self.processes()):
                break
            if sig == signal.SIGKILL:
                log.info("SIGKILL to processes left by %s: %s", self.name, [p.pid for p in procs])
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(sig)
            psutil.wait_procs(procs, timeout=wait)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if left := self.processes():
            log.error("processes of %s survived SIGKILL: %s", self.name, [p.pid for p in left])
        self.proc = None

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` lines of the log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
