"""Blind battles between two models, votes kept in SQLite, and a Bradley-Terry leaderboard.

The ratings follow Chatbot Arena (Chiang et al., 2024): a Bradley-Terry model fitted by maximum
likelihood, a tie counted as half a win for each side, shown on the Elo scale (400 points = 10:1
odds), with 95% intervals from resampling the votes. Battles and model names live only here: the
browser holds an unguessable battle id until it votes.
"""

from __future__ import annotations

import math
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .safe_csv import csv_text

OUTCOMES = ("left", "right", "tie", "both_bad")  # "both bad" counts as a tie in the ratings, as in Chatbot Arena
SCALE, BASE, CENTER = 400.0, 10.0, 1000.0  # Elo scale: a 400-point gap means 10:1 odds of winning
ONE_TIE = 0.25  # L2 prior on log-strengths worth about one tie against an average model: finite after one vote
BOOTSTRAP_ROUNDS = 200
ARENA, REVIEW = "arena", "review"  # where a vote came from: a blind battle here, or a person reviewing a run
SIDES = ("left", "right")


class ArenaError(InputError):
    """A vote the arena refuses: unknown battle, second vote, unknown outcome, too few models."""


@dataclass(frozen=True)
class Battle:
    id: str
    left: str
    right: str


@dataclass(frozen=True)
class Vote:
    left: str
    right: str
    outcome: str  # one of OUTCOMES


@dataclass(frozen=True)
class VotedBattle:
    """A battle with its vote, its prompt and the two answers (None where a side did not finish, or for a vote
    given elsewhere, which has none)."""

    left: str
    right: str
    prompt: str
    outcome: str
    source: str
    left_answer: str | None
    right_answer: str | None


@dataclass(frozen=True)
class Rating:
    rank: int  # 1 + how many models are better beyond doubt (their interval lies wholly above this one's)
    model: str
    rating: float
    low: float  # 95% bootstrap interval
    high: float
    votes: int
    wins: int
    ties: int


@dataclass(frozen=True)
class Standings:
    """The leaderboard as of `version`, which changes whenever a vote is added or removed."""

    version: tuple[int, int]  # (number of votes, highest row id) in the votes table
    rows: list[Rating]


class Arena:
    """Battles and votes in one SQLite file; every write is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._standings: Standings | None = None
        self._standings_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("BEGIN IMMEDIATE")  # two processes opening an old file at once: one migrates, the other waits
            db.execute(
                "CREATE TABLE IF NOT EXISTS battles (id TEXT PRIMARY KEY, left TEXT NOT NULL, "
                "right TEXT NOT NULL, prompt TEXT NOT NULL, started REAL NOT NULL, "
                f"source TEXT NOT NULL DEFAULT '{ARENA}', left_answer TEXT, right_answer TEXT)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS votes (battle_id TEXT PRIMARY KEY REFERENCES battles(id), "
                "outcome TEXT NOT NULL, voted REAL NOT NULL)"
            )
            columns = {column[1] for column in db.execute("PRAGMA table_info(battles)")}
            if "source" not in columns:
                # a file from before votes came from review: its battles were all fought in the arena
                db.execute(f"ALTER TABLE battles ADD COLUMN source TEXT NOT NULL DEFAULT '{ARENA}'")
            for side in SIDES:  # a file from before answers were kept: its battles have none
                if f"{side}_answer" not in columns:
                    db.execute(f"ALTER TABLE battles ADD COLUMN {side}_answer TEXT")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def start(self, models: Sequence[str], prompt: str) -> Battle:
        """Draw two different models at random, in random order, and remember who is on which side."""
        models = list(dict.fromkeys(models))
        if len(models) < 2:
            raise ArenaError(
                "too_few_models",
                "A battle needs at least two models; this deployment lists {count}.",
                count=len(models),
            )
        left, right = secrets.SystemRandom().sample(models, 2)
        battle = Battle(id=secrets.token_urlsafe(24), left=left, right=right)
        with closing(self._connect()) as db, db:
            _insert_battle(db, battle, prompt, ARENA)
        return battle

    def answered(self, battle_id: str, side: str, text: str) -> None:
        """Keep one side's finished answer (side is "left" or "right"), so that a vote makes a preference pair."""
        column = {side: f"{side}_answer" for side in SIDES}[side]  # a column name from our list, never the caller's
        with closing(self._connect()) as db, db:
            db.execute(f"UPDATE battles SET {column} = ? WHERE id = ?", (text, battle_id))

    def vote(self, battle_id: str, outcome: str) -> Battle:
        """Record the one vote of a battle and reveal who fought; a replayed or unknown id is refused."""
        _check_outcome(outcome)
        with closing(self._connect()) as db, db:
            found = db.execute("SELECT left, right FROM battles WHERE id = ?", (str(battle_id or ""),)).fetchone()
            if found is None:
                raise ArenaError("unknown_battle", "This battle does not exist. Start a new battle to vote.")
            try:
                db.execute("INSERT INTO votes VALUES (?, ?, ?)", (battle_id, outcome, time.time()))
            except sqlite3.IntegrityError as error:
                raise ArenaError("already_voted", "This battle already has its vote. Start a new battle.") from error
        return Battle(id=battle_id, left=found[0], right=found[1])

    def standings(self) -> Standings:
        """The leaderboard of every vote so far, fitted once per change of the votes however many ask at once
        (the others wait for that one fit); another process writing the same file is noticed too."""
        with self._standings_lock:
            with closing(self._connect()) as db:
                version = tuple(db.execute("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM votes").fetchone())
            if self._standings is None or self._standings.version != version:
                self._standings = Standings(version, leaderboard(self.votes()))
            return self._standings

    def record(
        self, left: str, right: str, outcome: str, prompt: str, source: str = REVIEW, battle_id: str | None = None
    ) -> Battle:
        """A battle and its vote in one transaction, for a verdict given elsewhere (a person reviewing a run), so
        that it counts on the same leaderboard. The same `battle_id` again replaces that battle and its vote: a
        reviewer who changes their pick moves the vote instead of adding a second one."""
        _check_outcome(outcome)
        if left == right:
            raise ArenaError(
                "arena_same_model", "A vote needs two different models; both sides are '{model}'.", model=left
            )
        battle = Battle(id=battle_id or secrets.token_urlsafe(24), left=left, right=right)
        with closing(self._connect()) as db, db:
            db.execute("BEGIN IMMEDIATE")
            # past the highest row id, so that a replaced vote changes the standings' version too
            row = db.execute("SELECT COALESCE(MAX(rowid), 0) + 1 FROM votes").fetchone()[0]
            db.execute("DELETE FROM votes WHERE battle_id = ?", (battle.id,))
            db.execute("DELETE FROM battles WHERE id = ?", (battle.id,))
            _insert_battle(db, battle, prompt, source)
            db.execute(
                "INSERT INTO votes (rowid, battle_id, outcome, voted) VALUES (?, ?, ?, ?)",
                (row, battle.id, outcome, time.time()),
            )
        return battle

    def votes(self, source: str | None = None) -> list[Vote]:
        """Every vote in the order given; only those from `source` ("arena", "review") when it is named."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT b.left, b.right, v.outcome FROM votes v JOIN battles b ON b.id = v.battle_id "
                "WHERE ? IS NULL OR b.source = ? ORDER BY v.voted",
                (source, source),
            ).fetchall()
        return [Vote(*row) for row in rows]

    def voted_battles(self) -> list[VotedBattle]:
        """Every battle that has its vote, in the order voted, with its prompt and answers."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT b.left, b.right, b.prompt, v.outcome, b.source, b.left_answer, b.right_answer "
                "FROM votes v JOIN battles b ON b.id = v.battle_id ORDER BY v.voted"
            ).fetchall()
        return [VotedBattle(*row) for row in rows]


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ArenaError(
            "bad_outcome",
            "Unknown vote '{outcome}'; expected one of {known}.",
            outcome=outcome,
            known=", ".join(OUTCOMES),
        )


def _insert_battle(db: sqlite3.Connection, battle: Battle, prompt: str, source: str) -> None:
    db.execute(
        "INSERT INTO battles (id, left, right, prompt, started, source) VALUES (?, ?, ?, ?, ?, ?)",
        (battle.id, battle.left, battle.right, prompt, time.time(), source),
    )


@dataclass(frozen=True)
class _Tally:
    """Votes grouped by kind: one row per (left, right, share of a win for left), with how many votes it holds.
    The likelihood depends on the votes only through these counts, so fits cost the same at 10 or 10 million votes."""

    models: list[str]
    left: np.ndarray  # (kinds,) index of the left model
    right: np.ndarray  # (kinds,) index of the right model
    share: np.ndarray  # (kinds,) 1 a win for left, 0 a win for right, 0.5 a tie
    counts: np.ndarray  # (kinds,) votes of that kind


def _tally(votes: Sequence[Vote]) -> _Tally:
    models = sorted({vote.left for vote in votes} | {vote.right for vote in votes})
    index = {model: i for i, model in enumerate(models)}
    kinds = Counter(
        (index[vote.left], index[vote.right], {"left": 1.0, "right": 0.0}.get(vote.outcome, 0.5)) for vote in votes
    )
    left, right, share = (np.array(column) for column in zip(*kinds)) if kinds else (np.array([]),) * 3
    return _Tally(models, left.astype(int), right.astype(int), share.astype(float), np.array(list(kinds.values())))


def _fit(tally: _Tally, counts: np.ndarray, prior: float) -> dict[str, float]:
    """Maximum-likelihood ratings of the models that have votes among `counts` (one weight per kind of vote).

    P(left beats right) = 1 / (1 + BASE ** ((r_right - r_left) / SCALE)); a tie is half a win each.
    Newton's method on the (concave) log-likelihood minus prior/2 * |strengths|^2.
    """
    kept = counts > 0
    present = np.unique(np.concatenate([tally.left[kept], tally.right[kept]]))
    column = {model: i for i, model in enumerate(present)}
    rows = np.arange(int(kept.sum()))
    x = np.zeros((len(rows), len(present)))  # (kinds, models): +1 left, -1 right
    x[rows, [column[i] for i in tally.left[kept]]] = 1.0
    x[rows, [column[i] for i in tally.right[kept]]] = -1.0
    weight, share = counts[kept].astype(float), tally.share[kept]
    strengths = np.zeros(len(present))
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-x @ strengths))
        gradient = x.T @ (weight * (share - p)) - prior * strengths
        hessian = x.T @ (x * (weight * p * (1 - p))[:, None]) + prior * np.eye(len(present))
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]  # least squares: without a prior only differences
        strengths += step
        if np.abs(step).max() < 1e-10:
            break
    ratings = CENTER + SCALE / math.log(BASE) * (strengths - strengths.mean())
    return {tally.models[i]: rating for i, rating in zip(present.tolist(), ratings.tolist())}


def bradley_terry(votes: Sequence[Vote], prior: float = ONE_TIE) -> dict[str, float]:
    """Maximum-likelihood Bradley-Terry ratings on the Elo scale, centred on CENTER (see _fit)."""
    if not votes:
        return {}
    tally = _tally(votes)
    return _fit(tally, tally.counts, prior)


def leaderboard(
    votes: Sequence[Vote], rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0, prior: float = ONE_TIE
) -> list[Rating]:
    """Models ranked by rating, each with a 95% interval from refitting on votes drawn with replacement
    (a multinomial draw of the counts of each kind of vote, which is the same thing)."""
    if not votes:
        return []
    tally = _tally(votes)
    ratings = _fit(tally, tally.counts, prior)
    samples: dict[str, list[float]] = {model: [] for model in ratings}
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        for model, rating in _fit(tally, rng.multinomial(len(votes), tally.counts / len(votes)), prior).items():
            samples[model].append(rating)
    intervals = {model: tuple(np.percentile(values, [2.5, 97.5]).tolist()) for model, values in samples.items()}
    rows = []
    for i, model in enumerate(tally.models):
        rating, (low, high) = ratings[model], intervals[model]
        mine = (tally.left == i) | (tally.right == i)
        won = ((tally.left == i) & (tally.share == 1.0)) | ((tally.right == i) & (tally.share == 0.0))
        better = sum(other_low > high for other, (other_low, _) in intervals.items() if other != model)
        rows.append(
            Rating(
                rank=1 + better,
                model=model,
                rating=rating,
                low=low,
                high=high,
                votes=int(tally.counts[mine].sum()),
                wins=int(tally.counts[won].sum()),
                ties=int(tally.counts[mine & (tally.share == 0.5)].sum()),
            )
        )
    return sorted(rows, key=lambda row: (row.rank, -row.rating))


def write_csv(rows: Sequence[Rating], path: Path, headers: Sequence[str]) -> Path:
    """The leaderboard as a CSV file with the reader's column names."""
    path.write_text(csv_text([headers, *leaderboard_rows(rows)]), encoding="utf-8", newline="")
    return path


def leaderboard_rows(rows: Sequence[Rating]) -> list[list]:
    """One table row per model: rank, model, rating, interval, votes, wins, ties."""
    return [
        [row.rank, row.model, round(row.rating, 1), f"{row.low:.0f} – {row.high:.0f}", row.votes, row.wins, row.ties]
        for row in rows
    ]
