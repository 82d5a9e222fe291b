"""A step's fingerprint: named components, each hashed from canonical JSON bytes (never pickle).

Keeping the components (and the readable values behind them) lets :mod:`explain` say *which* part
changed when a step is not reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_mlpipelines.exceptions import FingerprintError as FingerprintError  # re-exported

FINGERPRINT_VERSION = 1
"""Bumped when the recipe changes, so old manifests stop matching instead of matching wrongly."""


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8; anything not JSON-representable is an error."""

    def reject(obj: object) -> Any:
        raise FingerprintError(f"cannot fingerprint a value of type {type(obj).__name__}: {obj!r}")

    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=reject
        )
    except ValueError as exc:  # NaN/inf are not JSON
        raise FingerprintError(str(exc)) from None
    return text.encode("utf-8")


def digest_of(value: Any) -> str:
    """SHA-256 hex digest of a value's canonical bytes."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """Component name -> digest, plus the readable values that explain a difference.

    Component names: ``step``, ``script``, ``source``, ``hash_paths``, ``arguments``, ``environment``,
    ``compute``, ``version``, ``parameter:<name>``, ``input:<name>``; step kinds may add their own
    (Execute Python Script: ``script_text``, ``bundle``, ``ports``, ``frame:<port>``; data transfer:
    ``transfer``, ``sql_source``).
    """

    components: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The fingerprint itself: a digest over the sorted component digests."""
        return digest_of({"v": FINGERPRINT_VERSION, "components": self.components})

    @property
    def short(self) -> str:
        """First 16 hex digits, used in storage paths and logs."""
        return self.digest[:16]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form stored in manifests."""
        return {"digest": self.digest, "components": self.components, "details": self.details}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        """Read back what :meth:`to_json` wrote."""
        return cls(dict(data["components"]), dict(data.get("details", {})))


@dataclass(frozen=True)
class StepState:
    """Everything a step's result depends on, as plain values resolved at run time."""

    kind: str
    name: str
    script_name: str
    source_digest: str
    source_files: dict[str, str]
    arguments: list[list[Any]]
    parameters: dict[str, Any]
    inputs: dict[str, str]
    hash_paths: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    compute: str = "local"
    version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    """Step-kind components, already digests (Execute Python Script: ``script_text``, ``bundle``,
    ``ports``, ``frame:<port>``)."""
    extra_details: dict[str, Any] = field(default_factory=dict)


def fingerprint(state: StepState) -> Fingerprint:
    """Build the fingerprint of a step from its resolved state."""
    components = {
        "step": digest_of({"kind": state.kind, "name": state.name}),
        "script": digest_of(state.script_name),
        "source": state.source_digest,
        "hash_paths": digest_of(state.hash_paths),
        "arguments": digest_of(state.arguments),
        "environment": digest_of(state.environment),
        "compute": digest_of(state.compute),
        "version": digest_of(state.version),
    }
    components.update({f"parameter:{k}": digest_of(v) for k, v in state.parameters.items()})
    components.update({f"input:{k}": v for k, v in state.inputs.items()})
    components.update(state.extra)
    details = {
        "script": state.script_name,
        "source_files": state.source_files,
        "hash_paths": state.hash_paths,
        "arguments": state.arguments,
        "parameters": state.parameters,
        "environment": state.environment,
        "compute": state.compute,
        "version": state.version,
        **state.extra_details,
    }
    return Fingerprint(components, details)
