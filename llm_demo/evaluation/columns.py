"""Which column of a file plays which role of an evaluation task (text, label, question...), guessed from the
column names, and what a role's cell holds."""

from __future__ import annotations

import json
import re

# The columns each evaluation task needs, the first being the one a lone column is taken for.
ROLES: dict[str, tuple[str, ...]] = {
    "classification": ("text", "label"),
    "sentiment": ("text", "label"),
    "zero-shot": ("text", "label"),
    "qa": ("question", "context", "answer"),
    "translation": ("source", "reference"),
    "generation": ("text",),
    "answers": ("prompt", "reference", "system", "criteria"),
}
# Column names that announce a role, most telling first (compared lower-cased, spaces as underscores).
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "text": (
        "text",
        "sentence",
        "review",
        "content",
        "comment",
        "tweet",
        "utterance",
        "document",
        "input",
        "文本",
        "句子",
        "内容",
        "评论",
    ),
    "label": ("label", "labels", "class", "category", "sentiment", "gold", "target", "y", "标签", "类别", "情感"),
    "question": ("question", "query", "q", "问题"),
    "context": ("context", "passage", "paragraph", "document", "article", "上下文", "段落", "文章"),
    "answer": ("answers", "answer", "answer_text", "gold", "答案"),
    "source": ("source", "src", "source_text", "original", "input", "原文", "源文本"),
    "reference": (
        "reference",
        "references",
        "ref",
        "target",
        "translation",
        "tgt",
        "expected",
        "ideal",
        "gold_answer",
        "reference_answer",
        "参考译文",
        "译文",
        "参考",
        "参考答案",
    ),
    "prompt": ("prompt", "prompts", "question", "instruction", "query", "input", "message", "提示", "问题", "指令"),
    "system": ("system", "system_prompt", "系统提示", "系统"),
    "criteria": ("criteria", "criterion", "rubric", "grading", "评分标准", "标准"),
}


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
