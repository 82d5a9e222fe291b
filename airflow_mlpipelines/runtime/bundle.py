"""Extract an Execute Python Script *script bundle* (a zip of Python modules) into the run's sandbox.

The seed: the zip on the module's third input port "is unzipped by the execution framework at run time
and its contents added to the library path of the Python interpreter". A zip is untrusted input, so
extraction refuses, before writing anything:

- entries with an absolute path or a ``..`` component (zip-slip), in either slash style or with a
  drive letter;
- symbolic links (a link could point outside the sandbox and a later entry write through it);
- more entries than ``max_files`` or more declared uncompressed bytes than ``max_bytes`` (zip bombs);

and while writing it counts the bytes actually inflated, stopping at ``max_bytes`` whatever the
headers claim. On any refusal the partly extracted folder is removed.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from dataclasses import dataclass

from airflow_mlpipelines.exceptions import BundleError as BundleError  # re-exported

CHUNK = 1 << 16


@dataclass(frozen=True)
class BundleLimits:
    """Caps on a bundle's uncompressed size and entry count (``[mlpipelines] eps_bundle_max_*``)."""

    max_bytes: int = 256 * 1024 * 1024
    max_files: int = 10_000


def _unsafe_reason(name: str) -> str | None:
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        return "has an absolute path"
    if any(part == ".." for part in normal.split("/")):
        return "climbs out of the bundle with '..'"
    if "\x00" in normal:
        return "contains a NUL character"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def check(zf: zipfile.ZipFile, bundle: str, limits: BundleLimits) -> list[zipfile.ZipInfo]:
    """Every entry, after refusing unsafe ones and bundles over the limits (nothing is written)."""
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise BundleError(
            f"script bundle {bundle} has {len(infos)} entries, more than the limit of {limits.max_files} "
            "([mlpipelines] eps_bundle_max_files)"
        )
    total = 0
    for info in infos:
        reason = _unsafe_reason(info.filename)
        if reason is not None:
            raise BundleError(f"script bundle {bundle}: entry {info.filename!r} {reason}; nothing extracted")
        if _is_symlink(info):
            raise BundleError(
                f"script bundle {bundle}: entry {info.filename!r} is a symbolic link; nothing extracted"
            )
        total += info.file_size
    if total > limits.max_bytes:
        raise BundleError(
            f"script bundle {bundle} would unpack to {total} bytes, more than the limit of "
            f"{limits.max_bytes} ([mlpipelines] eps_bundle_max_bytes)"
        )
    return infos


def extract(bundle: str, dest: str, limits: BundleLimits | None = None) -> list[str]:
    """Extract ``bundle`` into ``dest`` (created) and return the extracted files' relative paths."""
    limits = limits or BundleLimits()
    try:
        zf = zipfile.ZipFile(bundle)
    except FileNotFoundError:
        raise BundleError(f"script bundle {bundle} does not exist") from None
    except zipfile.BadZipFile as exc:
        raise BundleError(f"script bundle {bundle} is not a zip file: {exc}") from None
    root = os.path.realpath(dest)
    os.makedirs(root, exist_ok=True)
    written: list[str] = []
    try:
        with zf:
            infos = check(zf, bundle, limits)
            budget = limits.max_bytes
            for info in infos:
                target = os.path.realpath(os.path.join(root, info.filename.replace("\\", "/")))
                if os.path.commonpath([root, target]) != root:  # belt and braces after check()
                    raise BundleError(f"script bundle {bundle}: entry {info.filename!r} leaves the sandbox")
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                budget = _copy(zf, info, target, budget, bundle, limits)
                written.append(os.path.relpath(target, root))
    except BundleError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, NotImplementedError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise BundleError(f"script bundle {bundle} cannot be extracted: {exc}") from None
    return written


def _copy(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: str, budget: int, bundle: str, limits: BundleLimits
) -> int:
    with zf.open(info) as src, open(target, "xb") as dst:
        while chunk := src.read(CHUNK):
            budget -= len(chunk)
            if budget < 0:
                raise BundleError(
                    f"script bundle {bundle} unpacks to more than the limit of {limits.max_bytes} bytes "
                    "([mlpipelines] eps_bundle_max_bytes)"
                )
            dst.write(chunk)
    return budget
