"""Say why a step was not reused: compare two fingerprints component by component."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_mlpipelines.reuse.fingerprint import Fingerprint

MAX_FILES_LISTED = 10


def _files(old: dict[str, str], new: dict[str, str]) -> list[str]:
    lines = [f"source file {p} changed" for p in sorted(old.keys() & new.keys()) if old[p] != new[p]]
    lines += [f"source file {p} added" for p in sorted(new.keys() - old.keys())]
    lines += [f"source file {p} removed" for p in sorted(old.keys() - new.keys())]
    if len(lines) > MAX_FILES_LISTED:
        lines = [*lines[:MAX_FILES_LISTED], f"... and {len(lines) - MAX_FILES_LISTED} more source changes"]
    return lines or ["source directory changed"]


def _value(details: dict[str, Any], key: str) -> Any:
    return details.get(key)


def explain(old: Fingerprint, new: Fingerprint) -> list[str]:
    """Human-readable reasons, one per changed component (e.g. ``parameter lr: 0.1 -> 0.01``)."""
    reasons: list[str] = []
    for name in sorted(old.components.keys() | new.components.keys()):
        before, after = old.components.get(name), new.components.get(name)
        if before == after:
            continue
        kind, _, key = name.partition(":")
        if kind == "parameter":
            was = old.details.get("parameters", {}).get(key, "<unset>")
            now = new.details.get("parameters", {}).get(key, "<unset>")
            reasons.append(f"parameter {key}: {was!r} -> {now!r}")
        elif kind == "input":
            reasons.append(f"input {key} changed" if before and after else f"input {key} added or removed")
        elif kind == "source":
            reasons += _files(old.details.get("source_files", {}), new.details.get("source_files", {}))
        elif kind == "frame":
            reasons.append(f"the DataFrame on {key} changed")
        elif kind == "script_text":
            reasons.append(f"script changed: {old.details.get(kind)} -> {new.details.get(kind)}")
        elif kind == "step":
            reasons.append("step kind or name changed")
        else:
            reasons.append(f"{kind} changed: {_value(old.details, kind)!r} -> {_value(new.details, kind)!r}")
    return reasons
