"""Blind battles: names hidden until the one vote, votes kept in SQLite, Bradley-Terry ratings."""

from __future__ import annotations

import math
import re

import pytest
from served_app import served_app

from llm_demo.arena import Arena, ArenaError, Vote, bradley_terry, leaderboard

FIGURES = r"First token [\d.]+ s · \d+ tokens · [\d.–]+ tokens/s"


def test_bradley_terry_matches_ratings_computed_by_hand():
    # A beats B twice and loses once: P(A wins) = 2/3, so the gap is 400·log10(2) = 120.41 around 1000.
    votes = [Vote("A", "B", "left"), Vote("B", "A", "right"), Vote("B", "A", "left")]
    ratings = bradley_terry(votes, prior=0)
    assert ratings["A"] == pytest.approx(1060.206, abs=1e-3) and ratings["B"] == pytest.approx(939.794, abs=1e-3)
    # A win and a tie: 1.5 wins in 2, P = 3/4, gap 400·log10(3) = 190.85; "both bad" is a tie too.
    tie = bradley_terry([Vote("A", "B", "left"), Vote("A", "B", "both_bad")], prior=0)
    assert tie["A"] - tie["B"] == pytest.approx(400 * math.log10(3), abs=1e-6)


def test_one_vote_gives_finite_ratings_set_by_the_one_tie_prior():
    ratings = bradley_terry([Vote("A", "B", "left")])
    half_gap = (ratings["A"] - 1000) * math.log(10) / 400  # strength x of A, -x of B
    # the optimum of log σ(2x) − 0.25·x² solves 2·σ(−2x) = 0.5·x
    assert 2 / (1 + math.exp(2 * half_gap)) == pytest.approx(0.5 * half_gap, abs=1e-9)
    assert ratings["A"] == pytest.approx(1128.686, abs=1e-3) and ratings["A"] + ratings["B"] == pytest.approx(2000)


def test_leaderboard_counts_votes_wins_ties_and_ranks_by_intervals():
    votes = [Vote("A", "B", "left")] * 20 + [Vote("B", "C", "tie")] * 10 + [Vote("C", "A", "right")] * 10
    rows = leaderboard(votes)
    assert [(row.model, row.votes, row.wins, row.ties) for row in rows] == [
        ("A", 30, 30, 0),
        ("C", 20, 0, 10),
        ("B", 30, 0, 10),
    ]
    assert all(row.low <= row.rating <= row.high for row in rows)
    assert [row.rank for row in rows] == [1, 2, 2]  # B and C cannot be told apart: same rank
    assert leaderboard(votes) == rows  # same votes, same seed: same intervals


def test_one_vote_per_battle_and_unknown_ids_refused(tmp_path):
    arena = Arena(tmp_path / "votes.sqlite3")
    battle = arena.start(["A", "B", "C"], "hello")
    assert {battle.left, battle.right} <= {"A", "B", "C"} and battle.left != battle.right and len(battle.id) >= 32
    assert arena.vote(battle.id, "tie") == battle
    for battle_id, outcome, key in (
        (battle.id, "left", "already_voted"),
        ("forged", "left", "unknown_battle"),
        (battle.id, "maybe", "bad_outcome"),
    ):
        with pytest.raises(ArenaError) as caught:
            arena.vote(battle_id, outcome)
        assert caught.value.key == key
    assert Arena(tmp_path / "votes.sqlite3").votes() == [Vote(battle.left, battle.right, "tie")]
    with pytest.raises(ArenaError, match="at least two models"):
        arena.start(["A", "A"], "hello")


def test_blind_battle_hides_names_counts_one_vote_and_survives_a_restart(tiny, registry, tmp_path, monkeypatch):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    monkeypatch.setenv("LLM_DEMO_DB", str(tmp_path / "arena.sqlite3"))
    with served_app() as url:
        client = Client(url, verbose=False)
        battle = client.predict("Hello there", 6, api_name="/battle")
        secrets = [entry.name for entry in registry.entries("generation")] + [str(tiny.gpt2), str(tiny.gpt2_chat)]
        assert not any(secret in str(battle) for secret in secrets)
        battle_id = battle[0]
        revealed, left_figures, right_figures, table, _ = client.predict(battle_id, "left", api_name="/vote")
        [vote] = Arena(tmp_path / "arena.sqlite3").votes()
        left, right = vote.left, vote.right
        assert revealed == f"**Model A** was `{left}`, **model B** was `{right}`. Thank you, your vote is counted."
        assert all(re.fullmatch(FIGURES, figures) for figures in (left_figures, right_figures))  # only now
        with pytest.raises(AppError, match="already has its vote"):
            client.predict(battle_id, "right", api_name="/vote")
        with pytest.raises(AppError, match="does not exist"):
            client.predict(battle_id[:-1] + ("A" if battle_id[-1] != "A" else "B"), "left", api_name="/vote")
    with served_app() as url:  # a restart: a new app over the same database
        table, csv_path = Client(url, verbose=False).predict(api_name="/leaderboard")
    assert [row[:2] + row[4:] for row in table["data"]] == [[1, left, 1, 1, 0], [2, right, 1, 0, 0]]
    assert [row[2] for row in table["data"]] == [1128.7, 871.3]
    lines = open(csv_path, encoding="utf-8").read().splitlines()  # every field quoted, so no separator splits one
    assert lines[0] == '"Rank","Model","Rating","95% interval","Votes","Wins","Ties"'
    assert lines[1].startswith(f'"1","{left}","1128.7",')
