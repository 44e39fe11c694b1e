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
import time
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
class Rating:
    rank: int  # 1 + how many models are better beyond doubt (their interval lies wholly above this one's)
    model: str
    rating: float
    low: float  # 95% bootstrap interval
    high: float
    votes: int
    wins: int
    ties: int


class Arena:
    """Battles and votes in one SQLite file; every write is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS battles (id TEXT PRIMARY KEY, left TEXT NOT NULL, "
                "right TEXT NOT NULL, prompt TEXT NOT NULL, started REAL NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS votes (battle_id TEXT PRIMARY KEY REFERENCES battles(id), "
                "outcome TEXT NOT NULL, voted REAL NOT NULL)"
            )

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
            db.execute("INSERT INTO battles VALUES (?, ?, ?, ?, ?)", (battle.id, left, right, prompt, time.time()))
        return battle

    def vote(self, battle_id: str, outcome: str) -> Battle:
        """Record the one vote of a battle and reveal who fought; a replayed or unknown id is refused."""
        if outcome not in OUTCOMES:
            raise ArenaError(
                "bad_outcome",
                "Unknown vote '{outcome}'; expected one of {known}.",
                outcome=outcome,
                known=", ".join(OUTCOMES),
            )
        with closing(self._connect()) as db, db:
            found = db.execute("SELECT left, right FROM battles WHERE id = ?", (str(battle_id or ""),)).fetchone()
            if found is None:
                raise ArenaError("unknown_battle", "This battle does not exist. Start a new battle to vote.")
            try:
                db.execute("INSERT INTO votes VALUES (?, ?, ?)", (battle_id, outcome, time.time()))
            except sqlite3.IntegrityError as error:
                raise ArenaError("already_voted", "This battle already has its vote. Start a new battle.") from error
        return Battle(id=battle_id, left=found[0], right=found[1])

    def votes(self) -> list[Vote]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT b.left, b.right, v.outcome FROM votes v JOIN battles b ON b.id = v.battle_id ORDER BY v.voted"
            ).fetchall()
        return [Vote(*row) for row in rows]


def bradley_terry(votes: Sequence[Vote], prior: float = ONE_TIE) -> dict[str, float]:
    """Maximum-likelihood Bradley-Terry ratings on the Elo scale, centred on CENTER.

    P(left beats right) = 1 / (1 + BASE ** ((r_right - r_left) / SCALE)); a tie is half a win each.
    Newton's method on the (concave) log-likelihood minus prior/2 * |strengths|^2.
    """
    models = sorted({vote.left for vote in votes} | {vote.right for vote in votes})
    index = {model: i for i, model in enumerate(models)}
    x = np.zeros((len(votes), len(models)))  # (votes, models): +1 left, -1 right
    for row, vote in enumerate(votes):
        x[row, index[vote.left]], x[row, index[vote.right]] = 1.0, -1.0
    y = np.array([{"left": 1.0, "right": 0.0}.get(vote.outcome, 0.5) for vote in votes])  # share of a win
    strengths = np.zeros(len(models))
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-x @ strengths))
        gradient = x.T @ (y - p) - prior * strengths
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + prior * np.eye(len(models))
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[
            0
        ]  # least squares: without a prior only differences count
        strengths += step
        if np.abs(step).max() < 1e-10:
            break
    ratings = CENTER + SCALE / math.log(BASE) * (strengths - strengths.mean())
    return dict(zip(models, ratings.tolist()))


def leaderboard(
    votes: Sequence[Vote], rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0, prior: float = ONE_TIE
) -> list[Rating]:
    """Models ranked by rating, each with a 95% interval from refitting on votes drawn with replacement."""
    if not votes:
        return []
    ratings = bradley_terry(votes, prior)
    samples: dict[str, list[float]] = {model: [] for model in ratings}
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        drawn = [votes[i] for i in rng.integers(0, len(votes), len(votes))]
        for model, rating in bradley_terry(drawn, prior).items():
            samples[model].append(rating)
    intervals = {model: tuple(np.percentile(values, [2.5, 97.5]).tolist()) for model, values in samples.items()}
    rows = []
    for model, rating in ratings.items():
        low, high = intervals[model]
        mine = [vote for vote in votes if model in (vote.left, vote.right)]
        wins = sum((vote.outcome, model) in {("left", vote.left), ("right", vote.right)} for vote in mine)
        ties = sum(vote.outcome in ("tie", "both_bad") for vote in mine)
        better = sum(other_low > high for other, (other_low, _) in intervals.items() if other != model)
        rows.append(
            Rating(
                rank=1 + better, model=model, rating=rating, low=low, high=high, votes=len(mine), wins=wins, ties=ties
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
