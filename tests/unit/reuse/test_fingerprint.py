"""Fingerprints change with each component alone, never pickle, and explain what changed."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from airflow_mlpipelines.reuse.explain import explain
from airflow_mlpipelines.reuse.fingerprint import (
    FingerprintError,
    StepState,
    canonical_bytes,
    fingerprint,
)

BASE = StepState(
    kind="python_script",
    name="train",
    script_name="train.py",
    source_digest="s" * 64,
    source_files={"train.py": "a" * 64, "util.py": "b" * 64},
    arguments=[["--lr=", {"parameter": "lr"}], [{"input": "prepped"}]],
    parameters={"lr": 0.1},
    inputs={"prepped": "d" * 64},
    hash_paths={},
    environment={"image": None},
    compute="local",
    version=None,
)

CHANGES: list[tuple[str, dict[str, Any], str]] = [
    ("name", {"name": "train2"}, "step kind or name changed"),
    ("script", {"script_name": "fit.py"}, "script changed: 'train.py' -> 'fit.py'"),
    (
        "source",
        {"source_digest": "t" * 64, "source_files": {"train.py": "c" * 64, "util.py": "b" * 64}},
        "source file train.py changed",
    ),
    ("arguments", {"arguments": [["--lr=", {"parameter": "lr"}]]}, "arguments changed"),
    ("parameter", {"parameters": {"lr": 0.01}}, "parameter lr: 0.1 -> 0.01"),
    ("input", {"inputs": {"prepped": "e" * 64}}, "input prepped changed"),
    ("hash_paths", {"hash_paths": {"nb.ipynb": "f" * 64}}, "hash_paths changed"),
    ("environment", {"environment": {"image": "py:3.11"}}, "environment changed"),
    ("compute", {"compute": "gpu"}, "compute changed: 'local' -> 'gpu'"),
    ("version", {"version": "2"}, "version changed: None -> '2'"),
]


def test_identical_state_identical_fingerprint() -> None:
    assert fingerprint(BASE).digest == fingerprint(dataclasses.replace(BASE)).digest
    assert explain(fingerprint(BASE), fingerprint(BASE)) == []


@pytest.mark.parametrize(("label", "change", "reason"), CHANGES, ids=[c[0] for c in CHANGES])
def test_each_component_alone_changes_the_fingerprint(
    label: str, change: dict[str, Any], reason: str
) -> None:
    old, new = fingerprint(BASE), fingerprint(dataclasses.replace(BASE, **change))
    assert new.digest != old.digest
    reasons = explain(old, new)
    assert len(reasons) == 1
    assert reasons[0].startswith(reason)


def test_parameter_order_does_not_matter() -> None:
    a = dataclasses.replace(BASE, parameters={"lr": 0.1, "n": 3})
    b = dataclasses.replace(BASE, parameters={"n": 3, "lr": 0.1})
    assert fingerprint(a).digest == fingerprint(b).digest


def test_added_source_file_is_named() -> None:
    files = {**BASE.source_files, "new.py": "9" * 64}
    new = fingerprint(dataclasses.replace(BASE, source_digest="n" * 64, source_files=files))
    assert explain(fingerprint(BASE), new) == ["source file new.py added"]


@pytest.mark.parametrize("value", [object(), {1, 2}, math.nan, b"bytes"])
def test_non_json_values_are_rejected_not_pickled(value: object) -> None:
    with pytest.raises(FingerprintError):
        canonical_bytes({"x": value})


def test_json_round_trip() -> None:
    from airflow_mlpipelines.reuse.fingerprint import Fingerprint

    fp = fingerprint(BASE)
    assert Fingerprint.from_json(fp.to_json()).digest == fp.digest
