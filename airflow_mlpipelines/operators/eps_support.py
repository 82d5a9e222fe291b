"""Execute Python Script pieces both of a step's tasks need: the fingerprint components of the step kind.

The reuse sensor and the compute task must compute the same fingerprint, so this lives beside
``step_base`` rather than in the compute operator. The components:

- ``script_text``: the script's text (inline, or the file's content at run time);
- ``bundle``: the zip bundle's SHA-256 (``None`` without one);
- ``ports``: which input is on which DataFrame port (swapping ports changes the call);
- ``frame:<port>``: the content digest of a DataFrame handed in directly (an ``XComArg`` in a
  hand-written DAG); ports connected to a dataset or an upstream output are covered by the
  ``input:<name>`` components like any step's inputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.reuse.fingerprint import digest_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_mlpipelines.reuse.source_tree import DigestCache


@dataclass(frozen=True)
class StagedFrame:
    """A DataFrame port value already written for the child (Arrow IPC), with its file's digest.

    Digesting the file the child reads anyway saves serialising a large frame a second time.
    """

    path: str
    digest: str


def is_frame(value: Any) -> bool:
    """Whether a port value is a DataFrame (checked without importing pandas)."""
    kind = type(value)
    return kind.__module__.startswith("pandas") and kind.__name__ == "DataFrame"


def script_text(eps: Mapping[str, Any], step: str) -> str:
    """The script's text: inline, or read from ``script_file``."""
    if eps.get("script") is not None:
        return str(eps["script"])
    path = str(eps["script_file"])
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise StepExecutionError(f"step '{step}': cannot read script_file {path}: {exc.strerror}") from None


def eps_components(
    eps: Mapping[str, Any], ports: Mapping[str, Any], cache: DigestCache, step: str = "?"
) -> tuple[dict[str, str], dict[str, Any]]:
    """Fingerprint components (digests) and their readable details for an Execute Python Script step."""
    text = script_text(eps, step)
    bundle = eps.get("bundle")
    bundle_digest = None
    if bundle:
        if not os.path.isfile(bundle):
            raise StepExecutionError(f"step '{step}': script bundle {bundle} does not exist")
        bundle_digest = cache.digest(bundle, os.stat(bundle))
    port_names = {p: (None if is_frame(v) or isinstance(v, StagedFrame) else v) for p, v in ports.items()}
    components = {
        "script_text": digest_of(text),
        "bundle": digest_of(bundle_digest),
        "ports": digest_of(port_names),
    }
    details: dict[str, Any] = {
        "script_text": f"{eps.get('script_file') or 'inline script'} ({components['script_text'][:12]})",
        "bundle": f"{bundle} (sha256 {bundle_digest[:12]})" if bundle and bundle_digest else None,
        "ports": port_names,
    }
    for port, value in ports.items():
        if isinstance(value, StagedFrame):
            components[f"frame:{port}"] = value.digest
        elif is_frame(value):
            from airflow_mlpipelines.frames.codec import frame_digest

            components[f"frame:{port}"] = frame_digest(value)
    return components, details
