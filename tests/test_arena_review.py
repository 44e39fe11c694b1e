"""Votes from people reviewing a run count in the arena's leaderboard, marked as coming from review."""

from __future__ import annotations

import sqlite3

import pytest

from llm_demo.arena import Arena, ArenaError, Vote


def test_a_recorded_vote_counts_on_the_leaderboard_and_is_told_apart_by_source(tmp_path):
    arena = Arena(tmp_path / "arena.sqlite3")
    battle = arena.start(["A", "B"], "hello")
    arena.vote(battle.id, "left")
    recorded = arena.record("A", "C", "right", "What is 2 + 2?")
    assert (recorded.left, recorded.right) == ("A", "C") and len(recorded.id) >= 32
    assert arena.votes(source="review") == [Vote("A", "C", "right")]
    assert arena.votes(source="arena") == [Vote(battle.left, battle.right, "left")]
    assert len(arena.votes()) == 2 and arena.votes(source="elsewhere") == []
    assert {row.model: row.votes for row in arena.standings().rows} == {"A": 2, "B": 1, "C": 1}
    with sqlite3.connect(arena.path) as db:
        assert db.execute("SELECT prompt, source FROM battles WHERE id = ?", (recorded.id,)).fetchone() == (
            "What is 2 + 2?",
            "review",
        )


def test_recording_the_same_battle_again_moves_its_vote_and_the_standings_notice(tmp_path):
    arena = Arena(tmp_path / "arena.sqlite3")
    arena.record("A", "B", "left", "p", battle_id="review-1")
    first = arena.standings()
    assert arena.record("A", "B", "right", "p", battle_id="review-1").id == "review-1"
    assert arena.votes() == [Vote("A", "B", "right")]
    second = arena.standings()
    assert second.version != first.version  # the same count of votes, but the leaderboard is fitted again
    assert {row.model: row.wins for row in second.rows} == {"A": 0, "B": 1}
    with pytest.raises(ArenaError) as caught:
        arena.vote("review-1", "left")  # a recorded battle already has its vote
    assert caught.value.key == "already_voted"


def test_a_recorded_vote_is_checked_like_any_other(tmp_path):
    arena = Arena(tmp_path / "arena.sqlite3")
    for left, right, outcome, key in (("A", "B", "maybe", "bad_outcome"), ("A", "A", "tie", "arena_same_model")):
        with pytest.raises(ArenaError) as caught:
            arena.record(left, right, outcome, "p")
        assert caught.value.key == key
    assert arena.votes() == []


def test_a_file_from_before_sources_is_migrated_in_place_and_its_votes_count_as_arena(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before this change, with a vote in it
        db.execute(
            "CREATE TABLE battles (id TEXT PRIMARY KEY, left TEXT NOT NULL, "
            "right TEXT NOT NULL, prompt TEXT NOT NULL, started REAL NOT NULL)"
        )
        db.execute(
            "CREATE TABLE votes (battle_id TEXT PRIMARY KEY REFERENCES battles(id), "
            "outcome TEXT NOT NULL, voted REAL NOT NULL)"
        )
        db.execute("INSERT INTO battles VALUES ('old', 'A', 'B', 'hello', 1)")
        db.execute("INSERT INTO votes VALUES ('old', 'tie', 2)")
    db.close()
    arena = Arena(path)
    assert arena.votes(source="arena") == [Vote("A", "B", "tie")]
    arena.record("B", "A", "left", "p")
    battle = arena.start(["A", "B"], "again")
    arena.vote(battle.id, "both_bad")
    assert len(Arena(path).votes(source="arena")) == 2 and Arena(path).votes(source="review") == [
        Vote("B", "A", "left")
    ]
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(battles)")]
    db.close()
    assert columns == ["id", "left", "right", "prompt", "started", "source", "left_answer", "right_answer"]
