"""CSV / TSV / JSON Lines in, as a table of strings; which column plays which role, guessed from the names.

Files are only ever read. Every way a file can be unusable becomes an InputError with its own key.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

# The columns each evaluation task needs, the first being the one a lone column is taken for.
ROLES: dict[str, tuple[str, ...]] = {
    "classification": ("text", "label"),
    "sentiment": ("text", "label"),
    "zero-shot": ("text", "label"),
    "qa": ("question", "context", "answer"),
    "translation": ("source", "reference"),
    "generation": ("text",),
}
# Column names that announce a role, most telling first (compared lower-cased, spaces as underscores).
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "text": ("text", "sentence", "review", "content", "comment", "tweet", "utterance", "document", "input",
             "文本", "句子", "内容", "评论"),
    "label": ("label", "labels", "class", "category", "sentiment", "gold", "target", "y", "标签", "类别", "情感"),
    "question": ("question", "query", "q", "问题"),
    "context": ("context", "passage", "paragraph", "document", "article", "上下文", "段落", "文章"),
    "answer": ("answers", "answer", "answer_text", "gold", "答案"),
    "source": ("source", "src", "source_text", "original", "input", "原文", "源文本"),
    "reference": ("reference", "references", "ref", "target", "translation", "tgt", "参考译文", "译文", "参考"),
}
DELIMITERS = ",;\t|"
SNIFF_CHARS = 64 * 1024


@dataclass
class Table:
    """An uploaded table: every cell a string, missing cells empty."""

    frame: pd.DataFrame
    blank_lines_skipped: int
    source_name: str


def read_table(path: str | Path, max_rows: int | None = None) -> Table:
    """Read a CSV, TSV or JSON Lines file; refuse with a clear message anything that is not a usable table."""
    import pandas as pd

    path = Path(path)
    text = _decode(path.read_bytes(), path.name)
    if "\x00" in text:
        raise InputError("not_a_table", "'{name}' is not a text table (CSV, TSV or JSON Lines).", name=path.name)
    if path.suffix.lower() in {".jsonl", ".json", ".ndjson"}:
        header, rows, blank = _json_lines(text, path.name)
    else:
        header, rows, blank = _delimited(text, path.suffix.lower(), path.name)
    if not rows:
        raise InputError("no_rows", "'{name}' has a header but no rows.", name=path.name)
    if max_rows and len(rows) > max_rows:
        raise InputError("too_many_rows", "'{name}' has {rows:,} rows; this deployment evaluates at most {limit:,}. "
                         "Upload a sample of the file.", name=path.name, rows=len(rows), limit=max_rows)
    return Table(pd.DataFrame(rows, columns=header, dtype=str), blank, path.name)


def _decode(data: bytes, name: str) -> str:
    """UTF-8, with or without a byte order mark."""
    if not data.strip():
        raise InputError("empty_file", "'{name}' is empty.", name=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError("undecodable_file", "'{name}' is not UTF-8 text (unreadable byte at position {position}). "
                         "Save it as UTF-8 (for example \"CSV UTF-8\" in Excel) and upload it again.",
                         name=name, position=error.start) from error


def _is_blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _sniff_delimiter(text: str, suffix: str) -> str:
    """Tab for .tsv; otherwise whichever of , ; tab | the sniffer finds (Excel in many locales writes ;)."""
    if suffix == ".tsv":
        return "\t"
    sample = text[:SNIFF_CHARS]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = next((line for line in sample.splitlines() if line.strip()), "")
        return max(DELIMITERS, key=first_line.count) if any(d in first_line for d in DELIMITERS) else ","


def _delimited(text: str, suffix: str, name: str) -> tuple[list[str], list[list[str]], int]:
    """Header and rows of a delimited file; quoted fields may hold delimiters and line breaks."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text, suffix))
    header: list[str] | None = None
    rows: list[list[str]] = []
    blank = 0
    try:
        for row in reader:
            if _is_blank(row):
                blank += 1
            elif header is None:
                header = _column_names(row)
            else:
                rows.append(_fit_row(row, len(header), reader.line_num, name))
    except csv.Error as error:
        raise InputError("not_a_table", "'{name}' could not be read as a table near line {line}: {reason}.",
                         name=name, line=reader.line_num, reason=str(error)) from error
    if header is None:
        raise InputError("empty_file", "'{name}' is empty.", name=name)
    return header, rows, blank


def _fit_row(row: list[str], width: int, line: int, name: str) -> list[str]:
    """Missing trailing cells become empty; extra cells are an error unless they are empty too."""
    if len(row) > width and _is_blank(row[width:]):
        row = row[:width]
    if len(row) > width:
        raise InputError("ragged_row", "Line {line} of '{name}' has {found} fields but the header has {expected}. "
                         "Check the quoting of that line.", line=line, name=name, found=len(row), expected=width)
    return row + [""] * (width - len(row))


def _column_names(row: list[str]) -> list[str]:
    """Header cells stripped; empty ones named column_N and repeats numbered, so every column has a unique name."""
    names: list[str] = []
    for position, cell in enumerate(row, start=1):
        name = cell.strip() or f"column_{position}"
        base, count = name, 1
        while name in names:
            count += 1
            name = f"{base}_{count}"
        names.append(name)
    return names


def _json_lines(text: str, name: str) -> tuple[list[str], list[list[str]], int]:
    """One JSON object per line; the columns are every key seen, in order of first appearance."""
    records: list[dict] = []
    blank = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            blank += 1
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError("not_a_table", "'{name}' could not be read as a table near line {line}: {reason}.",
                             name=name, line=number, reason=error.msg) from error
        if not isinstance(record, dict):
            raise InputError("not_a_table", "'{name}' could not be read as a table near line {line}: {reason}.",
                             name=name, line=number, reason="expected a JSON object")
        records.append(record)
    header = list(dict.fromkeys(key for record in records for key in record))
    return header, [[_cell(record.get(key)) for key in header] for record in records], blank


def _cell(value: object) -> str:
    """A JSON value as a cell: lists (several accepted answers) stay JSON so they can be read back."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().casefold())


def guess_columns(columns: list[str], task: str) -> dict[str, str | None]:
    """Which column plays each role of the task, from the column names; None where nothing fits.

    An exact name wins over a name that merely contains a role word, and no column serves two roles.
    When no name fits the task's first role (text, question or source), the first unclaimed column takes it.
    """
    roles = ROLES[task]
    guess: dict[str, str | None] = dict.fromkeys(roles)
    normalised = {column: _normalise(column) for column in columns}
    for matches in (lambda name, word: name == word, lambda name, word: len(word) > 2 and word in name):
        for role in roles:
            if guess[role] is None:
                guess[role] = _first_match(normalised, ROLE_NAMES[role], set(guess.values()), matches)
    free = [column for column in columns if column not in guess.values()]
    if guess[roles[0]] is None and free:
        guess[roles[0]] = free[0]
    return guess


def _first_match(normalised: dict[str, str], words: tuple[str, ...], taken: set, matches) -> str | None:
    for word in words:
        for column, name in normalised.items():
            if column not in taken and matches(name, word):
                return column
    return None


def answers_in(cell: str) -> list[str]:
    """The accepted answers of a QA cell: a JSON list (["Paris", "the city of Paris"]), several separated
    by |, or one answer. An empty cell means the context holds no answer (SQuAD2)."""
    cell = cell.strip()
    if cell.startswith("["):
        try:
            values = json.loads(cell)
        except json.JSONDecodeError:
            values = None
        if isinstance(values, list):
            return [str(value).strip() for value in values if str(value).strip()]
    return [part.strip() for part in cell.split("|") if part.strip()]
