"""The git information a run record keeps about the step's source folder (issue 14, item 2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from airflow_mlpipelines.runtime.run_record import git_info

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_commit_branch_dirty_flag_and_remote(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    _git(repo, "remote", "add", "origin", "https://example.com/ml/repo.git")
    (repo / "src" / "train.py").write_text("print(1)\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    info = git_info(str(repo / "src"))
    assert info is not None
    assert len(info["commit"]) == 40
    assert (info["branch"], info["dirty"], info["remote"]) == (
        "main",
        False,
        "https://example.com/ml/repo.git",
    )
    (repo / "src" / "train.py").write_text("print(2)\n")
    assert git_info(str(repo / "src"))["dirty"] is True  # type: ignore[index]


def test_not_a_repository(tmp_path: Path) -> None:
    assert git_info(str(tmp_path)) is None
    assert git_info(str(tmp_path / "missing")) is None
