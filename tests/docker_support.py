"""The Docker daemon and runtime image the Docker compute-target tests use (built offline by .ci)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

DEFINITION = """\
name: {name}
parameters:
  tag: x
compute_targets:
  box:
    kind: docker
    image: {image}
    cpu_limit: "1"
    memory_limit: 512Mi
    env: {{FROM_TARGET: "t"}}
    docker_url: {docker_url}
environments:
  runtime: {{image: {image}, env: {{FROM_ENV: "e"}}}}
datastores:
  local: {{url: data}}
datasets:
  raw: {{datastore: local, path: raw.txt}}
steps:
  - name: a
    script: step.py
    source_directory: src
    arguments: [{{input: raw}}, {{output: out_a}}, a]
    outputs: [out_a]
  - name: b
    script: step.py
    source_directory: src
    compute: box
    environment: runtime
    arguments: [{{input: out_a}}, {{output: out_b}}, "${{{{parameters.tag}}}}"]
    outputs: [out_b]
  - name: c
    script: step.py
    source_directory: src
    arguments: [{{input: out_b}}, {{output: out_c}}, c]
    outputs: [out_c]
"""

STEP = """\
import os, sys
src, out, tag = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src if os.path.isfile(src) else os.path.join(src, "data.txt")).read()
env = os.environ.get("FROM_TARGET", "") + os.environ.get("FROM_ENV", "")
open(os.path.join(out, "data.txt"), "w").write(data + tag + env)
print("python", sys.version_info[:2], "in container" if os.path.exists("/.dockerenv") else "on host")
from airflow_mlpipelines.core import Run  # in the step image too, which has no Airflow
Run.get_context().log("bytes_in", len(data))
"""


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
