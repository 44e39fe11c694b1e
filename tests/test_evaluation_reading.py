"""Reading uploaded tables robustly, and guessing which column plays which role."""

from __future__ import annotations

import csv
import json
import os
import time

import pytest
from helpers import write

from llm_demo.errors import InputError
from llm_demo.evaluation.columns import answers_in, guess_columns
from llm_demo.evaluation.reading import MAX_JSON_DEPTH, SNIFF_CHARS, SNIFF_LINES, open_table, read_head, read_table


def test_byte_order_mark_and_chinese_text_are_read_as_utf8(tmp_path):
    table = read_table(write(tmp_path, "a.csv", "\ufefftext,label\n我喜欢这部电影。,positive\n"))
    assert list(table.frame.columns) == ["text", "label"]
    assert table.frame.iloc[0].tolist() == ["我喜欢这部电影。", "positive"]


def test_quoted_fields_keep_their_commas_and_line_breaks(tmp_path):
    table = read_table(write(tmp_path, "a.csv", 'text,label\n"one, two\nthree",x\nplain,y\n'))
    assert table.frame["text"].tolist() == ["one, two\nthree", "plain"]


def test_semicolon_and_tab_delimiters_are_sniffed(tmp_path):
    semicolons = read_table(write(tmp_path, "a.csv", "text;label\nhello, world;positive\nbye;negative\n"))
    assert semicolons.frame.values.tolist() == [["hello, world", "positive"], ["bye", "negative"]]
    tabs = read_table(write(tmp_path, "b.txt", "source\treference\nHallo, Welt\tHello, world\n"))
    assert tabs.frame.values.tolist() == [["Hallo, Welt", "Hello, world"]]


def test_blank_lines_are_skipped_and_counted(tmp_path):
    table = read_table(write(tmp_path, "a.csv", "text,label\n\na,1\n\n\nb,2\n"))
    assert table.frame["text"].tolist() == ["a", "b"]
    assert table.blank_lines_skipped == 3


def test_missing_values_become_empty_cells(tmp_path):
    table = read_table(write(tmp_path, "a.csv", "text,label,note\nonly text\n,lonely label,\n"))
    assert table.frame.values.tolist() == [["only text", "", ""], ["", "lonely label", ""]]


def test_json_lines_keep_lists_of_answers_readable(tmp_path):
    table = read_table(
        write(
            tmp_path, "a.jsonl", '{"question": "Q?", "answers": ["Paris", "巴黎"]}\n\n{"question": "R?", "extra": 3}\n'
        )
    )
    assert list(table.frame.columns) == ["question", "answers", "extra"]
    assert answers_in(table.frame["answers"][0]) == ["Paris", "巴黎"]
    assert table.frame.iloc[1].tolist() == ["R?", "", "3"]
    assert table.blank_lines_skipped == 1


@pytest.mark.parametrize(
    "name, content, key",
    [
        ("empty.csv", b"", "empty_file"),
        ("blank.csv", b"\n\n  \n", "empty_file"),
        ("gbk.csv", "text,label\n我喜欢,positive\n".encode("gbk"), "undecodable_file"),
        ("header.csv", b"text,label\n", "no_rows"),
        ("ragged.csv", b"text,label\na,b,c\n", "ragged_row"),
        ("binary.csv", b"PK\x03\x04\x00\x00binary", "not_a_table"),
        ("bad.jsonl", b'{"text": "a"}\n{"text": \n', "not_a_table"),
        ("list.jsonl", b'["not", "an", "object"]\n', "not_a_table"),
    ],
)
def test_unusable_files_are_refused_with_their_own_key(tmp_path, name, content, key):
    with pytest.raises(InputError) as caught:
        read_table(write(tmp_path, name, content))
    assert caught.value.key == key
    assert name in str(caught.value)


def test_row_cap_refuses_larger_files_with_both_numbers(tmp_path):
    path = write(tmp_path, "a.csv", "text\n" + "".join(f"row {i}\n" for i in range(11)))
    assert len(read_table(path, max_rows=11).frame) == 11
    with pytest.raises(InputError, match="has 11 rows; this deployment evaluates at most 10") as caught:
        read_table(path, max_rows=10)
    assert caught.value.key == "too_many_rows"


def test_uploaded_file_is_only_read(tmp_path):
    path = write(tmp_path, "a.csv", "\ufefftext,label\nx,y\n")
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    read_table(path)
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_extra_trailing_empty_fields_are_tolerated_and_duplicate_headers_renamed(tmp_path):
    table = read_table(write(tmp_path, "a.csv", "text,text,\na,b,,\n"))
    assert list(table.frame.columns) == ["text", "text_2", "column_3"]
    assert table.frame.iloc[0].tolist() == ["a", "b", ""]


@pytest.mark.parametrize(
    "columns, task, expected",
    [
        (["id", "review", "sentiment"], "sentiment", {"text": "review", "label": "sentiment"}),
        (["Label", "Text"], "classification", {"text": "Text", "label": "Label"}),
        (["Question", "Passage", "Answers"], "qa", {"question": "Question", "context": "Passage", "answer": "Answers"}),
        (["src", "tgt"], "translation", {"source": "src", "reference": "tgt"}),
        (["文本", "标签"], "zero-shot", {"text": "文本", "label": "标签"}),
        (["body"], "generation", {"text": "body"}),
        (["body", "stars"], "sentiment", {"text": "body", "label": None}),
    ],
)
def test_columns_are_guessed_from_their_names(columns, task, expected):
    assert guess_columns(columns, task) == expected


@pytest.mark.parametrize(
    "cell, expected",
    [
        ('["Paris", "the city of Paris"]', ["Paris", "the city of Paris"]),
        ("eight | 8", ["eight", "8"]),
        ("1889", ["1889"]),
        ("", []),
        ("[not json", ["[not json"]),
    ],
)
def test_answer_cells_hold_one_or_several_accepted_answers(cell, expected):
    assert answers_in(cell) == expected


def rows_of(table) -> list[list[str]]:
    return [row for chunk in table.chunks(size=2) for row in chunk.rows]


@pytest.mark.parametrize("name, delimiter", [("a.csv", ","), ("a.tsv", "\t")])
def test_a_quoted_line_break_across_a_read_and_a_chunk_border_stays_in_its_cell(tmp_path, name, delimiter):
    """Text is read 8 KiB at a time and handed out two rows at a time: the long quoted cell crosses both."""
    long_cell = "start " + "x" * 9000 + "\r\nline two,\n" + "y" * 100
    content = (
        f'\ufefftext{delimiter}label\r\nshort{delimiter}a\r\n\r\n"{long_cell}"{delimiter}b\r\nlast{delimiter}c\r\n'
    )
    table = open_table(write(tmp_path, name, content))
    assert (table.rows, table.blank_lines_skipped, table.columns) == (3, 1, ["text", "label"])
    assert rows_of(table) == [["short", "a"], [long_cell, "b"], ["last", "c"]]
    assert [chunk.start for chunk in table.chunks(size=2)] == [0, 2]
    assert [row for chunk in table.chunks(size=2, start=1) for row in chunk.rows] == [[long_cell, "b"], ["last", "c"]]


def test_json_lines_are_read_in_chunks_with_the_keys_of_every_line(tmp_path):
    lines = [json.dumps({"text": f"row {i}"}) for i in range(5)] + ["", json.dumps({"text": "late", "label": "x"})]
    table = open_table(write(tmp_path, "a.jsonl", "\ufeff" + "\n".join(lines) + "\n"))
    assert (table.rows, table.blank_lines_skipped, table.columns) == (6, 1, ["text", "label"])
    assert rows_of(table)[4:] == [["row 4", ""], ["late", "x"]]


def test_a_file_broken_at_its_end_is_refused_before_any_row_is_used(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\n" + "fine,a\n" * 50_000 + "a,b,c\n")
    with pytest.raises(InputError, match="Line 50002") as caught:
        open_table(path)
    assert caught.value.key == "ragged_row"


def test_preview_reads_only_the_head_of_the_file(tmp_path):
    path = write(tmp_path, "a.csv", b"text,label\n\n" + b"fine,a\n" * 20_000 + b"a,b,c\n\xff")  # broken far on
    head = read_head(path, rows=8)
    assert (head.frame.values.tolist(), head.blank_lines_skipped) == ([["fine", "a"]] * 8, 1)
    jsonl = read_head(write(tmp_path, "b.jsonl", '{"q": 1}\n{"q": 2, "a": 3}\n{"late": "key"}\nnot json\n'), rows=2)
    assert jsonl.frame.values.tolist() == [["1", ""], ["2", "3"]]


def test_the_byte_that_is_not_utf8_is_located_in_the_whole_file(tmp_path):
    path = write(tmp_path, "a.csv", b"text,label\n" + b"fine,a\n" * 3000 + b"caf\xe9,b\n")
    with pytest.raises(InputError, match=f"position {11 + 7 * 3000 + 3}"):
        open_table(path)


def test_the_delimiter_is_guessed_from_the_first_lines_only(tmp_path, monkeypatch):
    """csv.Sniffer's work grows faster than its sample, so it sees a few lines, never a whole upload."""
    samples = []
    sniff = csv.Sniffer.sniff
    monkeypatch.setattr(
        csv.Sniffer, "sniff", lambda self, sample, delimiters: samples.append(sample) or sniff(self, sample, delimiters)
    )
    head = read_head(write(tmp_path, "a.csv", "text;label\n" + "hello world;positive\n" * 5000), rows=2)
    assert head.frame.values.tolist() == [["hello world", "positive"]] * 2
    assert [sample.count("\n") for sample in samples] == [SNIFF_LINES]
    long_lines = read_head(write(tmp_path, "b.csv", "text;label\n" + f"{'word ' * 600};x\n" * 3), rows=1)
    assert long_lines.columns == ["text", "label"] and len(samples[-1]) <= SNIFF_CHARS


def test_repeated_column_names_are_numbered_past_the_names_already_taken(tmp_path):
    table = open_table(write(tmp_path, "a.csv", "a,a_2,a, a ,,b,a_3\n1,2,3,4,5,6,7\n"))
    assert table.columns == ["a", "a_2", "a_3", "a_4", "column_5", "b", "a_3_2"]


def test_thousands_of_repeated_column_names_are_numbered_in_linear_time(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_DEMO_MAX_COLUMNS", "0")
    path = write(tmp_path, "a.csv", ",".join(["a"] * 20_000) + "\n" + ",".join(["1"] * 20_000) + "\n")
    started = time.perf_counter()
    columns = open_table(path).columns
    assert time.perf_counter() - started < 5  # each name compared with every earlier one: minutes
    assert (columns[:3], columns[-1], len(set(columns))) == (["a", "a_2", "a_3"], "a_20000", 20_000)


@pytest.mark.parametrize(
    "name, content",
    [("wide.csv", "a,b,c,d\n1,2,3,4\n"), ("wide.jsonl", '{"a": 1, "b": 2}\n{"c": 3, "d": 4}\n')],
)
def test_a_table_wider_than_the_column_cap_is_refused_naming_the_limit_and_its_variable(
    tmp_path, monkeypatch, name, content
):
    path = write(tmp_path, name, content)
    monkeypatch.setenv("LLM_DEMO_MAX_COLUMNS", "3")
    for read in (open_table, lambda path: read_head(path, 5)):
        with pytest.raises(InputError, match="has 4 columns; this deployment reads at most 3") as caught:
            read(path)
        assert caught.value.key == "too_many_columns" and "LLM_DEMO_MAX_COLUMNS" in str(caught.value)
    monkeypatch.setenv("LLM_DEMO_MAX_COLUMNS", "4")
    assert open_table(path).columns == ["a", "b", "c", "d"]
    monkeypatch.setenv("LLM_DEMO_MAX_COLUMNS", "0")  # no cap
    assert open_table(path).columns == ["a", "b", "c", "d"]


def nested(depth: int) -> str:
    """A JSON object whose 'v' holds lists `depth` levels deep, counting the object itself."""
    return '{"text": "x", "v": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_json_lines_nested_deeper_than_the_cap_are_refused_naming_the_line(tmp_path):
    assert read_table(write(tmp_path, "ok.jsonl", nested(MAX_JSON_DEPTH) + "\n")).frame["v"][0].startswith("[[")
    brackets_in_text = json.dumps({"text": "[" * 500 + "{" * 500})
    assert read_table(write(tmp_path, "text.jsonl", brackets_in_text + "\n")).frame["text"][0] == "[" * 500 + "{" * 500
    for depth in (MAX_JSON_DEPTH + 1, 100_000):  # deeper than Python's own limit: json raises RecursionError
        path = write(tmp_path, "deep.jsonl", '{"text": "fine"}\n' + nested(depth) + "\n")
        with pytest.raises(InputError, match="Line 2 of 'deep.jsonl' nests lists or objects more than 64 levels"):
            open_table(path)
        with pytest.raises(InputError) as caught:
            read_head(path, 5)
        assert caught.value.key == "nested_too_deep"


def test_a_json_number_too_long_for_python_is_refused_as_a_bad_line(tmp_path):
    with pytest.raises(InputError, match="near line 1: a number with too many digits") as caught:
        read_table(write(tmp_path, "a.jsonl", '{"text": ' + "9" * 5000 + "}\n"))
    assert caught.value.key == "not_a_table"
