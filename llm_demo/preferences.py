"""Preference pairs people can train on: decisive arena votes, and liked against disliked (or passed-over) chat
answers to the same prompt, as JSON Lines that TRL's DPOTrainer reads (`prompt`, `chosen`, `rejected`).

Every pair is in TRL's conversational format: the prompt is chat messages (a chat's whole conversation before the
answer, with its system prompt; an arena prompt as one user message) and each answer one assistant message. One
format for both keeps the file one table: `datasets` refuses a column that is text in one row and messages in the
next. `source`, `chosen_model` and `rejected_model` say where each pair came from; trainers ignore them.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .arena import ARENA, REVIEW, Arena, VotedBattle
from .errors import InputError
from .feedback import LIKE, FeedbackStore, Rating
from .settings import get_settings

if TYPE_CHECKING:  # torch comes with it: a type is not worth a second of start-up
    from .models.types import Message

UNDECIDED = ("tie", "both_bad")  # outcomes that prefer neither answer
CHAT = "chat"
SOURCES = (ARENA, CHAT)
LEFT_OUT = (*UNDECIDED, REVIEW, "no_answers", "no_text", "unpaired")  # the reasons a vote or rating makes no pair


@dataclass(frozen=True)
class Export:
    """The pairs, how many came from each of SOURCES, and how many votes or ratings were left out for each of
    LEFT_OUT: "review" (votes from reviewing an evaluation, which keep no answers), "no_answers" (a battle where a
    side did not finish), "no_text" (chat ratings kept without text), "unpaired" (ratings with no opposite)."""

    pairs: list[dict]
    exported: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)


def pair(prompt: list[Message], chosen: str, rejected: str, source: str, models: tuple[str, str]) -> dict:
    """One row of the file: what was asked, the better answer, the worse one."""
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "source": source,
        "chosen_model": models[0],
        "rejected_model": models[1],
    }


def arena_pairs(battles: Sequence[VotedBattle]) -> Export:
    """One pair per decisive vote on a battle whose two answers were kept."""
    pairs, skipped = [], Counter()
    for battle in battles:
        if battle.source != ARENA:
            skipped[battle.source] += 1
        elif battle.outcome in UNDECIDED:
            skipped[battle.outcome] += 1
        elif battle.left_answer is None or battle.right_answer is None:  # "" is an answer, if a poor one
            skipped["no_answers"] += 1
        else:
            sides = [(battle.left_answer, battle.left), (battle.right_answer, battle.right)]
            (chosen, winner), (rejected, loser) = sides if battle.outcome == "left" else sides[::-1]
            prompt = [{"role": "user", "content": battle.prompt}]
            pairs.append(pair(prompt, chosen, rejected, ARENA, (winner, loser)))
    return Export(pairs, Counter({ARENA: len(pairs)}), skipped)


def chat_pairs(ratings: Sequence[Rating]) -> Export:
    """One pair per liked answer and disliked (or passed-over) answer to the same question of a conversation."""
    skipped: Counter = Counter()
    questions: dict[tuple[str, str], list[Rating]] = {}
    for rating in ratings:
        if rating.text is None or rating.prompt is None:
            skipped["no_text"] += 1
        else:
            questions.setdefault((rating.conversation, rating.question), []).append(rating)
    pairs = []
    for rated in questions.values():
        liked = [rating for rating in rated if rating.rating == LIKE]
        others = [rating for rating in rated if rating.rating != LIKE]
        if not (liked and others):
            skipped["unpaired"] += len(rated)
        for chosen in liked:
            for rejected in others:
                pairs.append(pair(chosen.prompt, chosen.text, rejected.text, CHAT, (chosen.model, rejected.model)))
    return Export(pairs, Counter({CHAT: len(pairs)}), skipped)


def collect(db_path: Path) -> Export:
    """Every pair the app's SQLite file holds: arena votes first, then chat feedback."""
    if not Path(db_path).is_file():
        raise InputError(
            "no_preferences_db", "No votes or feedback yet: {path} does not exist (LLM_DEMO_DB).", path=str(db_path)
        )
    parts = [arena_pairs(Arena(db_path).voted_battles()), chat_pairs(FeedbackStore(db_path).all())]
    return Export(
        [row for part in parts for row in part.pairs],
        sum((part.exported for part in parts), Counter()),
        sum((part.skipped for part in parts), Counter()),
    )


def write_jsonl(pairs: Sequence[dict], path: Path) -> Path:
    """The pairs as JSON Lines, one pair a line, UTF-8 as written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in pairs), encoding="utf-8")
    return path


def summary(export: Export) -> str:
    """What was exported and what was left out, for the command line."""
    return (
        f"{len(export.pairs)} pairs ({_counts(export.exported) or 'none'}); "
        f"left out: {_counts(export.skipped) or 'nothing'}"
    )


def _counts(counter: Counter) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counter.items()) if count)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preferences",
        help="export arena votes and chat likes as preference pairs (JSON Lines for TRL's DPOTrainer)",
        description="Write every decisive arena vote and every liked/disliked pair of chat answers as JSON Lines of "
        "prompt, chosen and rejected, which TRL's DPOTrainer reads.",
    )
    parser.add_argument("--out", required=True, type=Path, help="the JSON Lines file to write")
    parser.add_argument("--db", type=Path, help="the app's SQLite file (default: $LLM_DEMO_DB)")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    export = collect(arguments.db or get_settings().db_path)
    write_jsonl(export.pairs, arguments.out)
    print(f"{arguments.out}: {summary(export)}")
    return 0
