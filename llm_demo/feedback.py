"""Chat feedback kept server side: which answers a visitor liked or disliked, in SQLite beside the arena's votes, so
that it can become preference data (`llm_demo.preferences`).

The conversation itself stays in the visitor's browser. Its text reaches this file only with
LLM_DEMO_KEEP_FEEDBACK_TEXT=1; without it a row says which model's answer was liked or disliked and nothing of what
was said, so a public Space does not quietly collect what people type.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import conversations
from .conversations import Conversation
from .storage import SQLiteStore

if TYPE_CHECKING:  # torch comes with it: a type is not worth a second of start-up
    from .models.types import Message

LIKE, DISLIKE = conversations.FEEDBACK
PASSED_OVER = "passed_over"  # an unrated alternative of a liked answer: the reader asked for another, or came back
MAX_RATED = 20  # newest alternatives of one question rated per like; a conversation from the browser could hold any


@dataclass(frozen=True)
class Rating:
    """One answer's rating (LIKE, DISLIKE or PASSED_OVER); `prompt` and `text` are None unless text is kept."""

    conversation: str
    question: str  # the id of the user message answered: answers to the same question make pairs
    answer: str
    model: str
    rating: str
    prompt: list[Message] | None = None  # the system prompt and every message up to the question
    text: str | None = None


def ratings(
    conversation_id: str, tree: Conversation, answer_id: str, system_prompt: str, keep_text: bool
) -> list[Rating]:
    """The ratings of every answer to the same question as `answer_id`, as the tree has them now: the rated ones, and
    once one of them is liked, the others as passed over."""
    answer = next(node for node in tree.nodes if node.id == answer_id)
    siblings = [node for node in conversations.alternatives(tree, answer) if node.content][-MAX_RATED:]
    liked = any(node.feedback == LIKE for node in siblings)
    prompt = None
    if keep_text:
        system = [{"role": "system", "content": system_prompt}] if system_prompt else []
        prompt = system + conversations.as_messages(conversations.ancestors(tree, answer.id))
    return [
        Rating(
            conversation=conversation_id,
            question=answer.parent,
            answer=node.id,
            model=node.model,
            rating=node.feedback or PASSED_OVER,
            prompt=prompt,
            text=node.content if keep_text else None,
        )
        for node in siblings
        if node.feedback or liked
    ]


class FeedbackStore(SQLiteStore):
    """Ratings in the app's SQLite file, one row per answer; every write is one transaction."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS chat_feedback (conversation TEXT NOT NULL, question TEXT NOT NULL, "
            "answer TEXT NOT NULL, model TEXT NOT NULL, rating TEXT NOT NULL, given REAL NOT NULL, "
            "prompt TEXT, text TEXT, PRIMARY KEY (conversation, answer))",
        )

    def record(self, conversation: str, question: str, rated: Sequence[Rating]) -> None:
        """The ratings of one question's answers, replacing what was kept for them: a like taken back goes, and
        answers passed over stop counting once no answer of theirs is liked."""
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM chat_feedback WHERE conversation = ? AND question = ?", (conversation, question))
            db.executemany(
                "INSERT OR REPLACE INTO chat_feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        conversation,
                        question,
                        rating.answer,
                        rating.model,
                        rating.rating,
                        time.time(),
                        None if rating.prompt is None else json.dumps(rating.prompt, ensure_ascii=False),
                        rating.text,
                    )
                    for rating in rated
                ],
            )

    def all(self) -> list[Rating]:
        """Every rating kept, oldest first."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT conversation, question, answer, model, rating, prompt, text FROM chat_feedback ORDER BY given"
            ).fetchall()
        return [Rating(*row[:5], prompt=None if row[5] is None else json.loads(row[5]), text=row[6]) for row in rows]
