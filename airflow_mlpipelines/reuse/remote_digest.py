"""Digest of an input on an object store, from the store's own checksums where it has them.

Streaming every byte of a remote dataset on every run makes reuse cost as much as the download. Object
stores keep a tag per object that changes whenever its content does; this module builds the input's
fingerprint component from those tags (and sizes), and streams the bytes only for stores that have none.
What each store gives (fsspec ``info``):

- S3: ``ETag``. For a single-part upload it is the MD5 of the content (a content checksum); for a
  multipart upload it is a digest of the parts' MD5s, so the same bytes uploaded with another part size
  get another tag (a spurious re-run, never a wrong reuse).
- GCS: ``md5Hash`` (or ``crc32c`` for composite objects): content checksums.
- Azure Blob: ``content_settings.content_md5`` when the uploader set it (a content checksum), else
  ``etag``, a version tag that changes on every write even of identical bytes (a spurious re-run).
- Anything else (HTTP, memory, ...): the bytes are streamed and hashed (SHA-256).

The component records which kind of tag each file used, so an explanation can say so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.digests import CHUNK
from airflow_mlpipelines.reuse.fingerprint import digest_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_mlpipelines.storage import Location

_TAGS = ("ETag", "etag", "md5Hash", "crc32c")


def store_tag(details: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, value) of the content tag in an fsspec ``info`` result, or None when it has none."""
    settings = details.get("content_settings")
    md5 = getattr(settings, "content_md5", None) if settings is not None else None
    if md5:
        return "content_md5", bytes(md5).hex() if not isinstance(md5, str) else md5
    for key in _TAGS:
        value = details.get(key)
        if value:
            return key, str(value).strip('"')
    return None


def _stream(item: Location, progress: st.Progress) -> str:
    import hashlib

    digest = hashlib.sha256()
    with item.fs.open(item.path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            progress.add(len(chunk), files=0)
    return digest.hexdigest()


def remote_digest(loc: Location, say: Callable[[str], None] = lambda _: None) -> str:
    """The digest of a remote file or folder (every file's path, size and content tag)."""
    progress = st.Progress(f"fingerprinted {loc.url}", say)
    entries: dict[str, dict[str, Any]] = {}
    for rel, item in st.files_below(loc):
        details = st.info(item) or {}
        tag = store_tag(details)
        size = details.get("size")
        if tag is None:
            entries[rel] = {"size": size, "sha256": _stream(item, progress)}
        else:
            entries[rel] = {"size": size, tag[0]: tag[1]}
        progress.add(0)
    if progress.bytes:  # only worth a line when bytes had to be read
        progress.done()
    return digest_of(entries)
