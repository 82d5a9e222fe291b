"""The Docker daemon and runtime image the Docker compute-target tests use (built offline by .ci)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def docker_available() -> bool:
    """Whether a Docker daemon answers (``.ci/system-deps`` starts one)."""
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def runtime_image() -> str:
    """Tag of the runtime image for this checkout (cached by input hash; built when missing)."""
    if not docker_available():
        pytest.skip("no Docker daemon answers (run .ci/system-deps, or .ci/docker-daemon)")
    done = subprocess.run(
        ["bash", str(REPO / ".ci" / "runtime-image")], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        pytest.fail(f".ci/runtime-image failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def containers_started(image: str, since: float) -> int:
    """How many containers of ``image`` the daemon started since ``since`` (from its event log)."""
    done = subprocess.run(
        [
            "docker",
            "events",
            "--since",
            f"{since:.3f}",
            "--until",
            f"{time.time():.3f}",
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--format",
            "{{.From}}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return sum(1 for line in done.stdout.splitlines() if line.strip() == image)
