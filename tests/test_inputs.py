"""Checks shared by every text box: a box of many lines is capped as a whole and by its number of lines."""

from __future__ import annotations

import pytest

from llm_demo.errors import InputError
from llm_demo.inputs import split_lines


def test_a_box_of_more_lines_than_the_limit_is_refused_naming_the_limit_and_its_variable():
    with pytest.raises(InputError) as raised:
        split_lines("ok\n" * 1_001)
    assert raised.value.key == "too_many_lines" and raised.value.params["lines"] == 1_001
    assert "the limit is 1,000 (LLM_DEMO_MAX_LINES)" in str(raised.value)
    assert len(split_lines("ok\n" * 1_000)) == 1_000


def test_blank_lines_do_not_count_and_the_limit_follows_its_variable(monkeypatch):
    monkeypatch.setenv("LLM_DEMO_MAX_LINES", "2")
    assert split_lines("a\n\n   \nb\n") == ["a", "b"]
    with pytest.raises(InputError, match="has 3 lines; the limit is 2"):
        split_lines("a\nb\nc")


def test_the_box_as_a_whole_stays_within_the_length_of_one_text_box(monkeypatch):
    monkeypatch.setenv("LLM_DEMO_MAX_INPUT_CHARS", "100")
    assert len(split_lines("twenty characters ok\n" * 4)) == 4
    with pytest.raises(InputError) as raised:
        split_lines("twenty characters ok\n" * 5)  # each line is short, the box is not
    assert raised.value.key == "text_too_long" and raised.value.params["length"] == 105
    assert "(LLM_DEMO_MAX_INPUT_CHARS)" in str(raised.value)
