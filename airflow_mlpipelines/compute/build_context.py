"""``mlpipelines dockerfile``: a Docker build context per environment of a pipeline's container steps.

Each context holds a Dockerfile that starts from a base image with Python 3, installs the environment's
pip requirements plus what the step runtime needs (fsspec), and copies in the pure part of this package
(``runtime``, ``reuse``, ``pipeline``... — no Airflow is installed) and, for Kubernetes targets with
``source_path``, the steps' source directories. Build it as the environment's ``image`` and push it
where the cluster pulls from.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_mlpipelines.compute.registry import compute_kind
from airflow_mlpipelines.pipeline.compute import step_conda, step_env_vars, step_image, step_pip, step_target
from airflow_mlpipelines.storage import is_web_url

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import PipelineSpec

DEFAULT_BASE = "python:3.11-slim"
CONDA_BASE = "condaforge/miniforge3"
"""A base image with conda, for environments that list conda packages."""
RUNTIME_REQUIREMENTS = ("fsspec",)
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class _Context:
    image: str
    pip: list[str]
    env: dict[str, str]
    conda: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    """Source directory on this machine -> where it goes in the image."""


def _slug(image: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in image)


def collect(pipeline: PipelineSpec) -> dict[str, _Context]:
    """One build context per image that a container step of ``pipeline`` runs in."""
    contexts: dict[str, _Context] = {}
    for step in pipeline.steps:
        target = step_target(pipeline, step)
        if not compute_kind(target.kind).builds_image:
            continue
        image = str(step_image(pipeline, step))
        ctx = contexts.setdefault(image, _Context(image, [], {}))
        ctx.pip += [r for r in step_pip(pipeline, step) if r not in ctx.pip]
        web = {d.name for d in pipeline.datasets if any(is_web_url(p) for p in d.paths)}
        if web & set(step.inputs) and "aiohttp" not in ctx.pip:
            ctx.pip.append("aiohttp")  # fsspec's HTTP filesystem, for the step's web-file inputs
        ctx.conda += [r for r in step_conda(pipeline, step) if r not in ctx.conda]
        ctx.env.update(step_env_vars(pipeline, step))
        if target.kind == "kubernetes" and target.source_path:
            ctx.sources[step.source_directory] = target.source_path
    return contexts


def dockerfile(ctx: _Context, base: str) -> str:
    """The Dockerfile text of one context."""
    lines = [
        f"# Image {ctx.image} (written by `mlpipelines dockerfile`). Build and publish it with:",
        f"#   docker build -t {ctx.image} . && docker push {ctx.image}",
        f"FROM {base}",
    ]
    if ctx.conda:
        # Conda packages first (pip packages may build on them); the base image must have conda.
        lines += [
            "# Conda packages of the environment: the base image must provide conda "
            f"(e.g. --base {CONDA_BASE}).",
            "RUN conda install --yes --channel conda-forge "
            + " ".join(shlex.quote(c) for c in ctx.conda)
            + " && conda clean --all --yes",
        ]
    lines += [
        "COPY requirements.txt /tmp/mlp-requirements.txt",
        "RUN python3 -m pip install --no-cache-dir -r /tmp/mlp-requirements.txt",
        "# The step runtime: the pure modules of airflow_mlpipelines (it imports no Airflow).",
        "COPY site/ /opt/mlpipelines/",
        "ENV PYTHONPATH=/opt/mlpipelines PYTHONUNBUFFERED=1",
    ]
    lines += [f"ENV {k}={v!r}" for k, v in sorted(ctx.env.items())]
    for i, (_, dest) in enumerate(sorted(ctx.sources.items())):
        lines.append(f"COPY steps/{i}/ {dest}/")
    return "\n".join(lines) + "\n"


def needs_conda(pipeline: PipelineSpec) -> list[str]:
    """The images whose environments list conda packages (their base must have conda)."""
    return sorted(image for image, ctx in collect(pipeline).items() if ctx.conda)


def write_contexts(pipeline: PipelineSpec, outdir: str, base: str = DEFAULT_BASE) -> list[str]:
    """Write every build context under ``outdir/<image slug>/``; returns their folders."""
    written = []
    for image, ctx in sorted(collect(pipeline).items()):
        folder = os.path.join(outdir, _slug(image))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "requirements.txt"), "w", encoding="utf-8") as fh:
            fh.write("\n".join([*RUNTIME_REQUIREMENTS, *ctx.pip]) + "\n")
        site = os.path.join(folder, "site", "airflow_mlpipelines")
        shutil.rmtree(site, ignore_errors=True)
        shutil.copytree(PACKAGE_DIR, site, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for i, (src, _) in enumerate(sorted(ctx.sources.items())):
            dest = os.path.join(folder, "steps", str(i))
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as fh:
            fh.write(dockerfile(ctx, base))
        written.append(folder)
    return written
