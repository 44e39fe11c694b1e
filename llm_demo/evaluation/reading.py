"""CSV / TSV / JSON Lines in, read in chunks of rows of strings (columns.py says which column plays which role).

A file is checked from end to end once (open_table: every row counted and its shape checked, so a broken
line 900,000 is reported before any model runs) and then read chunk by chunk, so memory does not grow
with the number of rows. Files are only ever read. Every way a file can be unusable becomes an
InputError with its own key.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

DELIMITERS = ",;\t|"
SNIFF_LINES, SNIFF_CHARS = 20, 2048  # the sniffer's work grows faster than its sample: keep the sample small
MAX_JSON_DEPTH = 64  # levels of [ and { in one JSON Lines row; data nests far less, an attack far more
CHUNK_ROWS = 4096  # rows handed out at a time by TableFile.chunks
JSON_SUFFIXES = {".jsonl", ".json", ".ndjson"}


@dataclass
class Chunk:
    """Consecutive data rows of a table: `start` is the position of the first (0-based, blank lines not
    counted); every row has one string per column."""

    start: int
    rows: list[list[str]]


@dataclass
class Table:
    """A table held in memory (small files: fine-tuning data, previews, tests): every cell a string."""

    frame: pd.DataFrame
    blank_lines_skipped: int
    source_name: str

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def rows(self) -> int:
        return len(self.frame)

    def chunks(self, size: int = CHUNK_ROWS, start: int = 0) -> Iterator[Chunk]:
        for first in range(start, len(self.frame), size):
            yield Chunk(first, self.frame.iloc[first : first + size].astype(str).values.tolist())

    def fingerprint(self) -> str:
        """A digest of the cells, so a resumed run can tell it is given the same table."""
        import pandas as pd

        return hashlib.sha256(pd.util.hash_pandas_object(self.frame, index=False).values.tobytes()).hexdigest()


@dataclass
class TableFile:
    """A table on disk, checked once by open_table; its rows are read again, chunk by chunk, when needed."""

    path: Path
    source_name: str
    columns: list[str]
    rows: int
    blank_lines_skipped: int
    delimiter: str | None  # None: JSON Lines

    def chunks(self, size: int = CHUNK_ROWS, start: int = 0) -> Iterator[Chunk]:
        """The data rows from position `start` on, `size` at a time (earlier rows are parsed, not kept)."""
        rows: list[list[str]] = []
        position = 0
        for row in self._data_rows():
            if row is None:
                continue
            if position >= start:
                rows.append(row)
                if len(rows) == size:
                    yield Chunk(position - size + 1, rows)
                    rows = []
            position += 1
        if rows:
            yield Chunk(position - len(rows), rows)

    def head(self, rows: int) -> Table:
        import pandas as pd

        first = next(self.chunks(rows), Chunk(0, []))
        return Table(pd.DataFrame(first.rows, columns=self.columns, dtype=str), 0, self.source_name)

    def fingerprint(self) -> str:
        """SHA-256 of the file's bytes, so a resumed run can tell it is given the same file."""
        with self.path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    def _data_rows(self) -> Iterator[list[str] | None]:
        """Each data row fitted to the columns, None for each blank line."""
        if self.delimiter is None:
            for _, record in _json_records(self.path, self.source_name):
                yield None if record is None else [_cell(record.get(key)) for key in self.columns]
            return
        header_seen = False
        for line, row in _delimited_records(self.path, self.source_name, self.delimiter):
            if row is None:
                yield None
            elif header_seen:
                yield _fit_row(row, len(self.columns), line, self.source_name)
            else:
                header_seen = True


def column_position(table: Table | TableFile, column: str) -> int:
    """Where a column the user named is, or a message naming the columns the file has."""
    if column not in table.columns:
        raise InputError(
            "unknown_column",
            "'{name}' has no column '{column}' (it has: {columns}).",
            name=table.source_name,
            column=column,
            columns=", ".join(table.columns),
        )
    return table.columns.index(column)


def open_table(path: str | Path, max_rows: int | None = None) -> TableFile:
    """Check a CSV, TSV or JSON Lines file from end to end and count its rows, keeping none of them;
    refuse with a clear message anything that is not a usable table."""
    table = _describe(Path(path), head_only=False)
    if not table.rows:
        raise InputError("no_rows", "'{name}' has a header but no rows.", name=table.source_name)
    if max_rows and table.rows > max_rows:
        raise InputError(
            "too_many_rows",
            "'{name}' has {rows:,} rows; this deployment evaluates at most {limit:,}. Upload a sample of the file.",
            name=table.source_name,
            rows=table.rows,
            limit=max_rows,
        )
    return table


def read_head(path: str | Path, rows: int) -> Table:
    """The columns and first rows of a file, reading no further: for previews and guessing columns.
    The columns of JSON Lines are the keys of those first rows."""
    table = _describe(Path(path), head_only=True, head_rows=rows)
    if table.rows == 0:
        raise InputError("no_rows", "'{name}' has a header but no rows.", name=table.source_name)
    head = table.head(rows)
    head.blank_lines_skipped = table.blank_lines_skipped
    return head


def read_table(path: str | Path, max_rows: int | None = None) -> Table:
    """A whole (small) file in memory; larger ones are better read with open_table(...).chunks()."""
    import pandas as pd

    table = open_table(path, max_rows)
    rows = [row for chunk in table.chunks() for row in chunk.rows]
    return Table(pd.DataFrame(rows, columns=table.columns, dtype=str), table.blank_lines_skipped, table.source_name)


def _describe(path: Path, head_only: bool, head_rows: int = 0) -> TableFile:
    """Columns, row count and blank lines of a file: of the whole file, or of its first `head_rows` rows."""
    name = path.name
    with path.open("rb") as file:
        if not file.read(64 * 1024).strip() and not file.read(1):
            raise InputError("empty_file", "'{name}' is empty.", name=name)
    limit = get_settings().max_columns
    if path.suffix.lower() in JSON_SUFFIXES:
        table = TableFile(path, name, [], 0, 0, None)
        keys: dict[str, None] = {}
        for _, record in _json_records(path, name):
            if record is None:
                table.blank_lines_skipped += 1
                continue
            keys.update(dict.fromkeys(record))
            _check_width(len(keys), limit, name)
            table.rows += 1
            if head_only and table.rows >= head_rows:
                break
        if not table.rows:
            raise InputError("empty_file", "'{name}' is empty.", name=name)
        table.columns = list(keys)
        return table
    delimiter = _sniff_delimiter(_head_text(path), path.suffix.lower())
    header = next((row for _, row in _delimited_records(path, name, delimiter) if row is not None), None)
    if header is None:
        raise InputError("empty_file", "'{name}' is empty.", name=name)
    _check_width(len(header), limit, name)
    table = TableFile(path, name, _column_names(header), 0, 0, delimiter)
    for row in table._data_rows():
        if row is None:
            table.blank_lines_skipped += 1
            continue
        table.rows += 1
        if head_only and table.rows >= head_rows:
            break
    return table


def _check_width(columns: int, limit: int, name: str) -> None:
    """Refuse a table wider than LLM_DEMO_MAX_COLUMNS (0: no cap): every row is padded to its width, and
    predictions.csv copies every column, so a short upload of a wide header would grow hundreds of times."""
    if limit and columns > limit:
        raise InputError(
            "too_many_columns",
            "'{name}' has {columns:,} columns; this deployment reads at most {limit:,}. Keep only the columns you "
            "need, or raise LLM_DEMO_MAX_COLUMNS.",
            name=name,
            columns=columns,
            limit=limit,
        )


def _head_text(path: Path) -> str:
    """The first SNIFF_LINES lines of the file, at most SNIFF_CHARS characters of them."""
    with path.open("rb") as file:
        text = file.read(4 * SNIFF_CHARS).decode("utf-8-sig", errors="ignore")[:SNIFF_CHARS]
    lines = text.splitlines(keepends=True)[:SNIFF_LINES]
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines.pop()  # a line cut by SNIFF_CHARS would look like a row with fewer fields
    return "".join(lines)


def _lines(path: Path, name: str, newline: str | None) -> Iterator[str]:
    """The file's lines as UTF-8 text (a byte order mark dropped); a NUL byte means it is no text table."""
    with open(path, encoding="utf-8-sig", newline=newline) as file:
        try:
            for line in file:
                if "\x00" in line:
                    raise InputError("not_a_table", "'{name}' is not a text table (CSV, TSV or JSON Lines).", name=name)
                yield line
        except UnicodeDecodeError as error:
            raise InputError(
                "undecodable_file",
                "'{name}' is not UTF-8 text (unreadable byte at position "
                '{position}). Save it as UTF-8 (for example "CSV UTF-8" in Excel) and upload it '
                "again.",
                name=name,
                position=_first_bad_byte(path),
            ) from error


def _first_bad_byte(path: Path) -> int:
    """Where UTF-8 decoding of the file first fails, counted in bytes from its start."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                return offset - pending + error.start
            offset += len(block)
    return offset


def _is_blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _sniff_delimiter(text: str, suffix: str) -> str:
    """Tab for .tsv; otherwise whichever of , ; tab | the sniffer finds (Excel in many locales writes ;)."""
    if suffix == ".tsv":
        return "\t"
    sample = text[:SNIFF_CHARS]  # csv.Sniffer's regular expressions take time growing faster than the sample's size
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = next((line for line in sample.splitlines() if line.strip()), "")
        return max(DELIMITERS, key=first_line.count) if any(d in first_line for d in DELIMITERS) else ","


def _delimited_records(path: Path, name: str, delimiter: str) -> Iterator[tuple[int, list[str] | None]]:
    """(line number, cells) of every record, None for a blank line; quoted fields may hold delimiters and
    line breaks, wherever the file's reads are cut."""
    reader = csv.reader(_lines(path, name, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, None if _is_blank(row) else row
    except csv.Error as error:
        raise InputError(
            "not_a_table",
            "'{name}' could not be read as a table near line {line}: {reason}.",
            name=name,
            line=reader.line_num,
            reason=str(error),
        ) from error


def _fit_row(row: list[str], width: int, line: int, name: str) -> list[str]:
    """Missing trailing cells become empty; extra cells are an error unless they are empty too."""
    if len(row) > width and _is_blank(row[width:]):
        row = row[:width]
    if len(row) > width:
        raise InputError(
            "ragged_row",
            "Line {line} of '{name}' has {found} fields but the header has {expected}. Check the quoting of that line.",
            line=line,
            name=name,
            found=len(row),
            expected=width,
        )
    return row + [""] * (width - len(row))


def _column_names(row: list[str]) -> list[str]:
    """Header cells stripped; empty ones named column_N and repeats numbered, so every column has a unique name.
    Each name's count goes on from where it stopped, so n repeats take n steps, not n² (or n³)."""
    names: list[str] = []
    taken: set[str] = set()
    counts: dict[str, int] = {}
    for position, cell in enumerate(row, start=1):
        name = base = cell.strip() or f"column_{position}"
        count = counts.get(base, 1)
        while name in taken:
            count += 1
            name = f"{base}_{count}"
        counts[base] = count
        taken.add(name)
        names.append(name)
    return names


def _json_records(path: Path, name: str) -> Iterator[tuple[int, dict | None]]:
    """(line number, object) of every line, None for a blank line; one JSON object per line."""
    for number, line in enumerate(_lines(path, name, newline=None), start=1):
        if not line.strip():
            yield number, None
            continue
        try:
            record = json.loads(line)
        except RecursionError as error:  # nested deeper than Python's own limit, about 1,000 levels
            raise _too_deep(name, number) from error
        except ValueError as error:  # bad JSON, or an integer of more digits than Python converts
            raise InputError(
                "not_a_table",
                "'{name}' could not be read as a table near line {line}: {reason}.",
                name=name,
                line=number,
                reason=error.msg if isinstance(error, json.JSONDecodeError) else "a number with too many digits",
            ) from error
        if line.count("[") + line.count("{") > MAX_JSON_DEPTH and _depth(record) > MAX_JSON_DEPTH:
            raise _too_deep(name, number)
        if not isinstance(record, dict):
            raise InputError(
                "not_a_table",
                "'{name}' could not be read as a table near line {line}: {reason}.",
                name=name,
                line=number,
                reason="expected a JSON object",
            )
        yield number, record


def _depth(value: object) -> int:
    """How deeply lists and objects nest in a parsed JSON value, walked without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _too_deep(name: str, line: int) -> InputError:
    return InputError(
        "nested_too_deep",
        "Line {line} of '{name}' nests lists or objects more than {limit} levels deep; flatten that value.",
        name=name,
        line=line,
        limit=MAX_JSON_DEPTH,
    )


def _cell(value: object) -> str:
    """A JSON value as a cell: lists (several accepted answers) stay JSON so they can be read back."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
