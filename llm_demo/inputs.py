"""Checks shared by every task's text inputs, so each bad value gets the same clear message."""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError
from .settings import get_settings

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_length(text: str, what: str = "text") -> str:
    """A whole box, however many texts it holds, within $LLM_DEMO_MAX_INPUT_CHARS."""
    limit = get_settings().max_input_chars
    if len(text) > limit:
        raise InputError(
            "text_too_long",
            "The {what} is {length:,} characters long; the limit is {limit:,} (LLM_DEMO_MAX_INPUT_CHARS).",
            what=what,
            length=len(text),
            limit=limit,
        )
    return text


def clean_text(text: str | None, what: str = "text") -> str:
    """Normalise one text box: NFC, no control characters, not empty, not over the length limit."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError("not_text", "The {what} must be text.", what=what)
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if not text:
        raise InputError("empty_text", "Please enter the {what}.", what=what)
    return check_length(text, what)


def clean_texts(texts: list[str], what: str = "text") -> list[str]:
    if not texts:
        raise InputError("empty_text", "Please enter the {what}.", what=what)
    return [clean_text(text, what) for text in texts]


def split_lines(text: str | None, what: str = "text") -> list[str]:
    """One input per non-blank line, for tabs that take many texts at once: at most $LLM_DEMO_MAX_LINES lines,
    and the box as a whole within $LLM_DEMO_MAX_INPUT_CHARS, like any other box."""
    if text is not None and not isinstance(text, str):
        raise InputError("not_text", "The {what} must be text.", what=what)
    lines = [line for line in (text or "").splitlines() if line.strip()]
    limit = get_settings().max_lines
    if len(lines) > limit:
        raise InputError(
            "too_many_lines",
            "The {what} has {lines:,} lines; the limit is {limit:,} (LLM_DEMO_MAX_LINES). "
            "Evaluate a longer list as a file in the Evaluation tab.",
            what=what,
            lines=len(lines),
            limit=limit,
        )
    check_length(text or "", what)
    return clean_texts(lines, what)


def check_range(name: str, value: float | int | None, low: float, high: float) -> float:
    """A numeric setting must be a finite number within [low, high]."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InputError(
            "bad_setting", "{name} must be a number between {low} and {high}.", name=name, low=low, high=high
        )
    if not low <= value <= high:
        raise InputError(
            "bad_setting", "{name} must be a number between {low} and {high}.", name=name, low=low, high=high
        )
    return value
