"""Property-based fuzzing of the file readers (hypothesis): whatever bytes a visitor uploads, the readers answer
with a table or with one of the product's own InputErrors, and their time grows at most linearly with the size."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_demo.errors import InputError
from llm_demo.evaluation.reading import open_table, read_head, read_table

FUZZ = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl")
READERS: tuple[Callable, ...] = (open_table, lambda path: read_head(path, 5), read_table)
# Characters that matter to a CSV or JSON reader, and some that do not
TRICKY = ",;\t|\"'\r\n {}[]:\\-=@0aé好\u2028\ufeff"
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "gbk", "latin-1")


def read_every_way(content: bytes, suffix: str) -> None:
    """Each reader either reads the file or refuses it with an InputError; anything else fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        for read in READERS:
            try:
                read(path)
            except InputError as error:
                assert error.key and str(error)


@FUZZ
@given(content=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_are_read_or_refused_with_an_input_error(content, suffix):
    read_every_way(content, suffix)


@FUZZ
@given(
    text=st.text(alphabet=TRICKY, max_size=2000),
    encoding=st.sampled_from(ENCODINGS),
    suffix=st.sampled_from(SUFFIXES),
)
def test_text_of_quotes_delimiters_and_line_breaks_in_any_encoding_is_read_or_refused(text, encoding, suffix):
    read_every_way(text.encode(encoding, errors="replace"), suffix)


cells = st.text(alphabet=TRICKY, max_size=12)


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=1, max_size=6), min_size=1, max_size=30),
    delimiter=st.sampled_from(",;\t|"),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    suffix=st.sampled_from((".csv", ".tsv")),
)
def test_tables_written_with_any_delimiter_and_quoting_are_read_or_refused(rows, delimiter, quoting, suffix):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=quoting).writerows(rows)
    read_every_way(buffer.getvalue().encode("utf-8"), suffix)


plain_cells = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@FUZZ
@given(
    header=st.lists(st.text(alphabet="abcxyz_", min_size=1, max_size=6), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_a_tab_separated_table_reads_back_cell_for_cell(header, data):
    rows = data.draw(st.lists(st.lists(plain_cells, min_size=len(header), max_size=len(header)), max_size=20))
    rows = [row for row in rows if any(cell.strip() for cell in row)]  # blank lines are skipped, and counted
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t").writerows([header, *rows])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.tsv"
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        if not rows:
            with pytest.raises(InputError, match="has a header but no rows"):
                read_table(path)
            return
        table = read_table(path)
    assert table.columns == header
    assert table.frame.values.tolist() == rows


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | plain_cells,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(plain_cells, children, max_size=3),
    max_leaves=20,
)


@FUZZ
@given(
    records=st.lists(st.dictionaries(plain_cells, json_values, max_size=4), min_size=1, max_size=10),
    depth=st.integers(0, 3000),
    where=st.integers(0, 10),
)
def test_json_lines_of_any_values_and_any_nesting_are_read_or_refused(records, depth, where):
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    lines.insert(min(where, len(lines)), '{"text": ' + "[" * depth + "]" * depth + "}")
    read_every_way("\n".join(lines).encode("utf-8"), ".jsonl")


# Time: each hostile kind at a size n and 4n. Linear work takes about 4 times as long, quadratic 16 times.
HOSTILE: dict[str, Callable[[int], tuple[str, str]]] = {
    'sniffer bait (;" repeated)': lambda n: (".csv", ';"' * (8_000 * n)),
    "repeated column names": lambda n: (".csv", ",".join(["a"] * (1_000 * n)) + "\n" + "1\n"),
    "a wide header over short rows": lambda n: (
        ".csv",
        ",".join(f"c{i}" for i in range(200)) + "\n" + "x\n" * (2_000 * n),
    ),
    "a header far over the column cap": lambda n: (".csv", ",".join(["c"] * (20_000 * n)) + "\nx\n"),
    "JSON nested without end": lambda n: (".jsonl", '{"text": ' + "[" * (25_000 * n) + "]" * (25_000 * n) + "}\n"),
    "JSON rows nested to the cap": lambda n: (".jsonl", ('{"t": ' + "[" * 60 + "]" * 60 + "}\n") * (500 * n)),
    "quoted fields full of quotes": lambda n: (".csv", "text,label\n" + '"a "" b,; c",x\n' * (4_000 * n)),
    "one field longer than the csv limit": lambda n: (".csv", 'text\n"' + "x" * (200_000 * n) + '"\n'),
}


def seconds_to_read(suffix: str, content: str, folder: Path) -> float:
    """The fastest of three reads of the whole file, refused or not (the least disturbed by other work)."""
    path = folder / f"hostile{suffix}"
    path.write_text(content, encoding="utf-8")
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for read in READERS:
            try:
                read(path)
            except InputError:
                pass
        best = min(best, time.perf_counter() - started)
    return best


# Each kind with the default column cap, and without one so that the work past the header is timed too (but for
# the header far over the cap: without a cap, its 80,000 columns would time pandas building a table).
CASES = [(kind, "200") for kind in HOSTILE] + [(kind, "0") for kind in HOSTILE if "over the column cap" not in kind]


@pytest.mark.parametrize("kind, cap", CASES, ids=[f"{kind}, cap {cap}" for kind, cap in CASES])
def test_reading_time_grows_at_most_linearly_with_a_hostile_files_size(kind, cap, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_DEMO_MAX_COLUMNS", cap)
    small, large = (seconds_to_read(*HOSTILE[kind](n), tmp_path) for n in (1, 4))
    # Linear: about 4x. The slack keeps a busy machine from failing it; quadratic work (16x) still would.
    assert large < 10 * small + 0.05, f"{kind}: {small:.3f} s, then {large:.3f} s at 4x the size"
