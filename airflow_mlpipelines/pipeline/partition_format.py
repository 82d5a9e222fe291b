"""SDK v1's ``partition_format``: columns taken from a file's path when a tabular dataset is read.

``'/{Region}/{PartitionDate:yyyy/MM/dd}/data.csv'`` matches the *end* of each file's path (as SDK v1:
the format starts at the first partition key and runs to the end of the path): ``{Region}`` is one path
segment, a string column; ``{PartitionDate:yyyy/MM/dd}`` is a datetime column in that layout (``yyyy``,
``MM``, ``dd``, ``HH``, ``mm``, ``ss``); other text must match literally, ``*`` matches within a segment.
Every file of the dataset must match, or reading it fails naming the file. Pure (stdlib only): the
loaders check a format at its line, the readers in ``frames/`` apply it.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

_DATE_PARTS = {"yyyy": (r"\d{4}", "%Y"), "MM": (r"\d{2}", "%m"), "dd": (r"\d{2}", "%d"),
               "HH": (r"\d{2}", "%H"), "mm": (r"\d{2}", "%M"), "ss": (r"\d{2}", "%S")}  # fmt: skip
_TOKEN = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*$")


@dataclass(frozen=True)
class PartitionFormat:
    """A compiled format: the regex (anchored at the path's end) and each column's date layout."""

    text: str
    pattern: re.Pattern[str]
    columns: tuple[tuple[str, str | None], ...]
    """(column, strptime layout or None for a string column), in order."""

    def values(self, path: str) -> dict[str, str | datetime.datetime]:
        """The partition columns of one file; :class:`ValueError` when the path does not match."""
        found = self.pattern.search(path.replace("\\", "/"))
        if found is None:
            raise ValueError(f"{path} does not match partition_format {self.text!r}")
        row: dict[str, str | datetime.datetime] = {}
        for i, (column, layout) in enumerate(self.columns):
            raw = found.group(f"c{i}")
            row[column] = raw if layout is None else datetime.datetime.strptime(raw, layout)
        return row


def _date(layout: str, index: int) -> tuple[str, str]:
    regex, strp, rest = "", "", layout
    while rest:
        for part, (part_regex, part_strp) in _DATE_PARTS.items():
            if rest.startswith(part):
                regex, strp, rest = regex + part_regex, strp + part_strp, rest[len(part) :]
                break
        else:
            if rest[0].isalpha():
                raise ValueError(f"unknown date part in {layout!r} (use yyyy, MM, dd, HH, mm, ss)")
            regex, strp, rest = regex + re.escape(rest[0]), strp + rest[0].replace("%", "%%"), rest[1:]
    return f"(?P<c{index}>{regex})", strp


def compile_format(text: str) -> PartitionFormat:
    """Compile ``text``; :class:`ValueError` with the reason for a bad format."""
    if not text.startswith("/"):
        raise ValueError(f"partition_format {text!r} must start with '/'")
    regex, pos = "", 0
    columns: list[tuple[str, str | None]] = []
    for match in _TOKEN.finditer(text):
        regex += re.escape(text[pos : match.start()]).replace(r"\*", "[^/]*")
        name, layout = match.group(1).strip(), match.group(2)
        if not _NAME.match(name) or name in dict(columns):
            raise ValueError(f"partition_format {text!r}: bad or repeated column name {name!r}")
        if layout is None:
            regex += f"(?P<c{len(columns)}>[^/]+)"
            columns.append((name, None))
        else:
            part, strp = _date(layout, len(columns))
            regex += part
            columns.append((name, strp))
        pos = match.end()
    regex += re.escape(text[pos:]).replace(r"\*", "[^/]*")
    if not columns:
        raise ValueError(f"partition_format {text!r} names no column ({{name}} or {{name:yyyy/MM/dd}})")
    return PartitionFormat(text, re.compile(regex + "$"), tuple(columns))
