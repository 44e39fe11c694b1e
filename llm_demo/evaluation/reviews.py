"""People reviewing the rows of an answers run: a grade per answer, a pick between two answers, a comment; and
how well the judge model agrees with them.

Reviews live in the arena's SQLite file (settings.db_path), one per reviewer and thing reviewed: reviewing the
same answer or pair again replaces the earlier review, so each person counts once. A pair is kept with its
models in sorted order, so that "A is better than B" and "B is worse than A" are one review.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import closing
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..arena import REVIEW, Arena, Battle
from ..errors import InputError
from ..storage import SQLiteStore

GRADES = ("1", "2", "3", "4", "5", "up", "down")  # a 1-5 scale, or thumbs
PICKS = ("a", "b", "tie")
FLIPPED = {"a": "b", "b": "a", "tie": "tie"}  # the same pick with the two answers swapped
MAX_COMMENT, MAX_REVIEWER = 2000, 100  # characters
MIN_REVIEWS = 5  # fewer verdicts than this, and a kappa or a correlation says more about chance than about the judge
EXPORT_HEADER = ["row", "kind", "model", "other", "value", "comment", "reviewer", "created"]


@dataclass(frozen=True)
class Review:
    run: str  # the run's id (a stable hash the caller computes from the file and models)
    row: int  # 0-based data row
    kind: str  # "grade" | "pair"
    model: str  # graded model, or model A for "pair" (the first in sorted order)
    other: str  # "" for a grade, model B for "pair"
    value: str  # grade: "1".."5", "up", "down"; pair: "a", "b", "tie"
    comment: str
    reviewer: str  # free text, may be ""
    created: float  # seconds since the epoch


class ReviewStore(SQLiteStore):
    """Reviews in one SQLite file; every write is one transaction, so several people can review at once."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS reviews (run TEXT NOT NULL, row INTEGER NOT NULL, kind TEXT NOT NULL, "
            "model TEXT NOT NULL, other TEXT NOT NULL, value TEXT NOT NULL, comment TEXT NOT NULL, "
            "reviewer TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (run, row, kind, model, other, reviewer))",
        )

    def add_grade(self, run: str, row: int, model: str, value: str, comment: str = "", reviewer: str = "") -> Review:
        """Grade one answer (1-5, or up/down); replaces this reviewer's earlier grade of the same answer."""
        value = _one_of(value, GRADES, "bad_review_grade", "A grade is one of {known}; '{value}' is not.")
        return self._save(run, row, "grade", model, "", value, comment, reviewer)

    def add_pick(
        self, run: str, row: int, model_a: str, model_b: str, value: str, comment: str = "", reviewer: str = ""
    ) -> Review:
        """Pick the better of two answers (a, b or tie); replaces this reviewer's earlier pick of the same pair,
        whichever order the two were shown in."""
        value = _one_of(value, PICKS, "bad_review_pick", "A pick is one of {known}; '{value}' is not.")
        if model_a == model_b:
            raise InputError(
                "bad_review_models",
                "A pick compares two different models; both answers are from '{model}'.",
                model=model_a,
            )
        if model_b < model_a:
            model_a, model_b, value = model_b, model_a, FLIPPED[value]
        return self._save(run, row, "pair", model_a, model_b, value, comment, reviewer)

    def _save(
        self, run: str, row: int, kind: str, model: str, other: str, value: str, comment: str, reviewer: str
    ) -> Review:
        """Check the row, comment and name, then keep the review in place of the same reviewer's earlier one."""
        comment = _limited(
            comment,
            MAX_COMMENT,
            "bad_review_comment",
            "A comment holds at most {limit} characters; this one has {length}.",
        )
        reviewer = _limited(
            reviewer,
            MAX_REVIEWER,
            "bad_review_reviewer",
            "A reviewer's name holds at most {limit} characters; this one has {length}.",
        )
        review = Review(run, _row(row), kind, model, other, value, comment, reviewer, time.time())
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO reviews (run, row, kind, model, other, value, comment, reviewer, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                astuple(review),  # the fields in the order of the columns
            )
        return review

    def reviews(self, run: str) -> list[Review]:
        """Every review of the run, by row, then kind, models and reviewer."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT run, row, kind, model, other, value, comment, reviewer, created FROM reviews WHERE run = ? "
                "ORDER BY row, kind, model, other, reviewer",
                (run,),
            ).fetchall()
        return [Review(*row) for row in rows]

    def export_rows(self, run: str) -> list[list]:
        """A header and one row per review, for a reviews.csv beside the results (write it with safe_csv.csv_text).
        Rows count from 1, as the report's rows do; the time is UTC, as ISO 8601."""
        return [EXPORT_HEADER] + [
            [
                review.row + 1,
                review.kind,
                review.model,
                review.other,
                review.value,
                review.comment,
                review.reviewer,
                datetime.fromtimestamp(review.created, UTC).isoformat(timespec="seconds"),
            ]
            for review in self.reviews(run)
        ]


def _one_of(value: object, known: tuple[str, ...], key: str, template: str) -> str:
    """The value as one of `known`, whatever the case and spaces around it (a widget may hand over 3 for "3")."""
    text = str(value).strip().lower()
    if text not in known:
        raise InputError(key, template, value=str(value)[:40], known=", ".join(known))
    return text


def _row(row: object) -> int:
    if isinstance(row, bool) or not isinstance(row, int) or row < 0:
        raise InputError("bad_review_row", "'{row}' is not a row of the data; rows count from 0.", row=str(row)[:40])
    return row


def _limited(text: str | None, limit: int, key: str, template: str) -> str:
    """The text without spaces around it, refused past `limit` characters."""
    text = (text or "").strip()
    if len(text) > limit:
        raise InputError(key, template, limit=limit, length=len(text))
    return text


def count_in_arena(arena: Arena, review: Review, prompt: str) -> Battle:
    """A person's pick as a vote on the arena's leaderboard (a: the first model wins, b: the second, tie), marked
    as coming from review. One battle per reviewer and pair, so a changed pick moves its vote instead of adding one."""
    if review.kind != "pair":
        raise ValueError(f"only a pick between two answers is a vote, not a {review.kind!r} review")
    identity = json.dumps([review.run, review.row, review.model, review.other, review.reviewer], ensure_ascii=False)
    battle_id = "review-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()
    outcome = {"a": "left", "b": "right", "tie": "tie"}[review.value]
    return arena.record(review.model, review.other, outcome, prompt, source=REVIEW, battle_id=battle_id)


@dataclass(frozen=True)
class Agreement:
    pairs: int  # rows×pairs where both a person and the judge gave a verdict (each person's review counts once)
    pair_agreement: float | None  # share of identical verdicts (a/b/tie); None without any
    kappa: float | None  # Cohen's kappa over those verdicts; None with < MIN_REVIEWS, or when undefined (see _kappa)
    grades: int  # answers graded by both
    spearman: float | None  # rank correlation of human grades and judge scores; None with < MIN_REVIEWS or constant


def agreement(
    reviews: list[Review], judge_pairs: dict[tuple[int, str, str], str], judge_grades: dict[tuple[int, str], float]
) -> Agreement:
    """How well the judge agrees with people: its verdict on each pair they picked from, its score of each answer
    they graded. judge_pairs: (row, model_a, model_b) with the models sorted -> "a" | "b" | "tie";
    judge_grades: (row, model) -> score (1-10). A row reviewed by several people counts once per review."""
    verdicts = [
        (review.value, judge_pairs[(review.row, review.model, review.other)])
        for review in reviews
        if review.kind == "pair" and (review.row, review.model, review.other) in judge_pairs
    ]
    scores = [
        (_human_score(review.value), float(judge_grades[(review.row, review.model)]))
        for review in reviews
        if review.kind == "grade" and (review.row, review.model) in judge_grades
    ]
    same = sum(human == judge for human, judge in verdicts)
    return Agreement(
        pairs=len(verdicts),
        pair_agreement=same / len(verdicts) if verdicts else None,
        kappa=_kappa(verdicts),
        grades=len(scores),
        spearman=_spearman(scores),
    )


def _human_score(value: str) -> float:
    """up 1, down 0, a grade its number: a rank correlation needs only the order, so the two scales need no match."""
    return float({"up": 1, "down": 0}.get(value, value))


def _kappa(verdicts: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e). None when people and the judge gave one and the same verdict
    throughout: then chance alone would agree as often (p_e = 1) and kappa is 0/0; pair_agreement still says 1.0."""
    if len(verdicts) < MIN_REVIEWS or len({verdict for pair in verdicts for verdict in pair}) == 1:
        return None
    from sklearn.metrics import cohen_kappa_score  # a second to import: only when asked

    humans, judges = zip(*verdicts, strict=True)
    return float(cohen_kappa_score(humans, judges, labels=list(PICKS)))


def _spearman(scores: list[tuple[float, float]]) -> float | None:
    """Spearman's rho; None when either side never varies, where a rank correlation is undefined."""
    if len(scores) < MIN_REVIEWS:
        return None
    humans, judges = zip(*scores, strict=True)
    if len(set(humans)) == 1 or len(set(judges)) == 1:
        return None
    from scipy.stats import spearmanr  # as sklearn above

    return float(spearmanr(humans, judges)[0])
