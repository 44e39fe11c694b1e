"""Preference pairs from hand-made arena votes and chat ratings, exported as JSON Lines that `datasets` loads as
TRL's conversational preference format."""

from __future__ import annotations

import dataclasses
import sqlite3

import gradio as gr
import pytest

from llm_demo.__main__ import main
from llm_demo.arena import Arena
from llm_demo.feedback import FeedbackStore, Rating
from llm_demo.preferences import collect
from llm_demo.registry import Registry
from llm_demo.ui import arena_tab

USER = [{"role": "user", "content": "Name a colour."}]


def _battle(arena: Arena, prompt: str, outcome: str, answers: dict[str, str]) -> None:
    """A battle between model-a and model-b (on whichever sides the draw puts them) with the answers each model
    finished, and its vote: the winning model's name, "tie" or "both_bad"."""
    battle = arena.start(["model-a", "model-b"], prompt)
    for side, model in (("left", battle.left), ("right", battle.right)):
        if model in answers:
            arena.answered(battle.id, side, answers[model])
    arena.vote(battle.id, {battle.left: "left", battle.right: "right"}.get(outcome, outcome))


def _rating(question: str, answer: str, rating: str) -> Rating:
    """A rating kept with its text: the answer is its own text, written by model-<answer>."""
    return Rating("conv", question, answer, f"model-{answer}", rating, prompt=USER, text=answer)


@pytest.fixture
def votes(tmp_path):
    """Hand-made votes: two decisive arena votes, a tie, a 'both bad', a battle with one side unfinished, a vote
    from reviewing a run, and chat ratings: a like with a dislike and a passed-over answer, a lone dislike, and a
    rating kept without text."""
    db = tmp_path / "votes.sqlite3"
    arena = Arena(db)
    _battle(arena, "Say hi.", "model-a", {"model-a": "hi from a", "model-b": "hello from b"})
    _battle(arena, "Count to 3.", "model-b", {"model-a": "1 2", "model-b": "1 2 3"})
    _battle(arena, "Tie?", "tie", {"model-a": "x", "model-b": "y"})
    _battle(arena, "Bad?", "both_bad", {"model-a": "x", "model-b": "y"})
    _battle(arena, "Unfinished.", "model-a", {"model-a": "only a"})
    arena.record("model-a", "model-b", "left", "From a review.")
    store = FeedbackStore(db)
    store.record(
        "conv",
        "q1",
        [_rating("q1", "blue", "like"), _rating("q1", "grey", "dislike"), _rating("q1", "mauve", "passed_over")],
    )
    store.record("conv", "q2", [_rating("q2", "red", "dislike")])
    store.record("conv", "q3", [Rating("conv", "q3", "green", "model-green", "like")])
    return db


def test_decisive_votes_and_liked_answers_become_pairs_and_the_rest_is_counted(votes, tmp_path, capsys):
    from datasets import load_dataset

    out = tmp_path / "prefs.jsonl"
    assert main(["preferences", "--out", str(out), "--db", str(votes)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{out}: 4 pairs (2 arena, 2 chat); left out: 1 both_bad, 1 no_answers, 1 no_text, 1 review, 1 tie, 1 unpaired"
    )
    rows = load_dataset("json", data_files=str(out), split="train")
    assert rows.column_names == ["prompt", "chosen", "rejected", "source", "chosen_model", "rejected_model"]
    pairs = [
        (row["prompt"][0]["content"], row["chosen"][0]["content"], row["rejected"][0]["content"], row["source"])
        for row in rows
    ]
    assert pairs == [
        ("Say hi.", "hi from a", "hello from b", "arena"),
        ("Count to 3.", "1 2 3", "1 2", "arena"),
        ("Name a colour.", "blue", "grey", "chat"),
        ("Name a colour.", "blue", "mauve", "chat"),
    ]
    assert rows[0]["prompt"] == [{"role": "user", "content": "Say hi."}]
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "hi from a"}]
    assert [(row["chosen_model"], row["rejected_model"]) for row in rows][:2] == [
        ("model-a", "model-b"),
        ("model-b", "model-a"),
    ]
    assert (rows[3]["chosen_model"], rows[3]["rejected_model"]) == ("model-blue", "model-mauve")


def test_a_file_from_before_answers_were_kept_is_migrated_and_its_votes_skipped(tmp_path):
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as old:
        old.execute(
            "CREATE TABLE battles (id TEXT PRIMARY KEY, left TEXT NOT NULL, right TEXT NOT NULL, prompt TEXT NOT NULL, "
            "started REAL NOT NULL, source TEXT NOT NULL DEFAULT 'arena')"
        )
        old.execute("CREATE TABLE votes (battle_id TEXT PRIMARY KEY, outcome TEXT NOT NULL, voted REAL NOT NULL)")
        old.execute("INSERT INTO battles VALUES ('b1', 'model-a', 'model-b', 'Hi', 0, 'arena')")
        old.execute("INSERT INTO votes VALUES ('b1', 'left', 1)")
    old.close()
    export = collect(db)
    assert export.pairs == [] and export.skipped == {"no_answers": 1}


def test_without_a_database_the_command_says_so(tmp_path, capsys):
    assert main(["preferences", "--out", str(tmp_path / "p.jsonl"), "--db", str(tmp_path / "none.sqlite3")]) == 2
    assert "No votes or feedback yet" in capsys.readouterr().err


@pytest.mark.parametrize("public", [False, True])
def test_the_arena_offers_the_pairs_for_download_only_where_the_app_is_not_public(registry, public):
    """The file holds every visitor's prompts: a public app must not hand them to any visitor."""
    with gr.Blocks() as page, gr.Tabs():
        arena_tab.build(Registry(registry.tasks, dataclasses.replace(registry.settings, public=public)))
    ids = {block.elem_id for block in page.blocks.values()}
    assert ("arena-preferences-file" in ids) is not public
