"""Issue 23, rows 11, 12 and 14, as a stranger tries them: what the arena shows before the vote, a loop of battles
and votes, and an app reachable from other machines. Each through the running app where it applies, each asserting
a clear message within a time bound."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from fake_hub import serving
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from served_app import app_process, free_port, served_app, wait_for
from test_download import hub_environment

from llm_demo import arena as arena_module
from llm_demo.arena import Arena
from llm_demo.errors import InputError, ModelError
from llm_demo.finetune.job import keep_newest
from llm_demo.limits import ADDRESS_SHARE, RateLimited, SlidingWindowLimit
from llm_demo.models.hub import check_model_size
from llm_demo.registry import ModelEntry, Registry
from llm_demo.settings import get_settings, is_loopback, is_public

LONG_PROMPT = " ".join(["word"] * 1100)  # far past the tiny GPT-2s' window of 128 tokens
GENERIC = "⚠ This model could not answer. Why comes with the names, after your vote."
FIGURES = re.compile(r"First token [\d.]+ s · \d+ tokens · [\d.–]+ tokens/s")
EXPOSURE = ("GRADIO_SERVER_NAME", "SPACE_ID", "LLM_DEMO_PUBLIC")
DEFAULTED = (
    "LLM_DEMO_ALLOW_CUSTOM_MODELS",
    "LLM_DEMO_ALLOW_LOCAL_PATHS",
    "LLM_DEMO_MAX_EVAL_ROWS",
    "LLM_DEMO_MAX_FINETUNE_ROWS",
    "LLM_DEMO_MAX_FINETUNED_MODELS",
    "LLM_DEMO_MAX_MODEL_MB",
)


def timed(call, *args, **kwargs):
    """The call's result and the seconds it took."""
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - started


def arena_app(registry: Registry, tmp_path: Path, generation: list[ModelEntry] | None = None, **settings):
    """The app over `registry` with its own votes file, other generation models and arena settings."""
    tasks = {**registry.tasks, "generation": generation or registry.tasks["generation"]}
    changed = dataclasses.replace(registry.settings, db_path=tmp_path / "arena.sqlite3", **settings)
    return served_app(Registry(tasks, changed))


# --- row 11: before the vote, nothing tells the models apart -----------------------------------------


def test_a_prompt_past_the_window_says_only_that_the_models_failed_until_the_vote(registry, tmp_path):
    with arena_app(registry, tmp_path) as url:
        client = Client(url, verbose=False)
        battle, seconds = timed(client.predict, LONG_PROMPT, 8, api_name="/battle")
        assert seconds < 30
        battle_id, left, right, left_figures, right_figures, _ = battle
        assert [left, right] == [GENERIC, GENERIC] and [left_figures, right_figures] == ["", ""]
        assert not re.search(r"\d", left + right)  # no window size, no token count
        (revealed, left_why, right_why, _, _), seconds = timed(client.predict, battle_id, "tie", api_name="/vote")
    assert seconds < 30 and "**Model A** was `Tiny" in revealed
    for why in (left_why, right_why):  # the exact reason comes with the names
        assert re.fullmatch(r"⚠ The prompt \(\d+ tokens\) fills this model's window of 128 tokens; shorten it\.", why)


def test_speed_figures_come_only_with_the_names(registry, tmp_path):
    with arena_app(registry, tmp_path) as url:
        client = Client(url, verbose=False)
        (battle_id, left, right, *before, _), seconds = timed(client.predict, "Hello there", 6, api_name="/battle")
        assert seconds < 30 and left and right and before == ["✓ Finished", "✓ Finished"]
        _, *after, _, _ = client.predict(battle_id, "left", api_name="/vote")
    assert all(FIGURES.fullmatch(figures) for figures in after)


def test_a_model_that_cannot_load_is_named_only_after_the_vote(registry, tmp_path):
    secret = ModelEntry(model="acme/secret-model", name="Secret model", task="generation")  # not cached, Hub offline
    with arena_app(registry, tmp_path, [registry.tasks["generation"][0], secret]) as url:
        client = Client(url, verbose=False)
        battle, seconds = timed(client.predict, "Hello there", 4, api_name="/battle")
        assert seconds < 30
        assert GENERIC in battle[1:3] and not any("acme" in str(part) or "ecret" in str(part) for part in battle)
        revealed, *whys, _, _ = client.predict(battle[0], "right", api_name="/vote")
    assert "`Secret model`" in revealed
    assert any(
        why.startswith("⚠ Cannot download 'acme/secret-model': the Hugging Face Hub is unreachable") for why in whys
    )


# --- row 12: a loop of battles and votes; the leaderboard at 10,000 votes -------------------------------


def test_a_loop_of_battles_and_votes_is_refused_with_the_wait_and_other_visitors_play_on(registry, tmp_path):
    with arena_app(registry, tmp_path, arena_battles=3, arena_votes=2, arena_window_seconds=60) as url:
        loop = Client(url, verbose=False)
        started = time.perf_counter()
        battles = [loop.predict("Hi", 1, api_name="/battle")[0] for _ in range(3)]
        with pytest.raises(AppError, match=r"^Too many battles: at most 3 every 60 s for one visitor\. Try again in"):
            loop.predict("Hi", 1, api_name="/battle")
        for battle_id in battles[:2]:
            loop.predict(battle_id, "left", api_name="/vote")
        with pytest.raises(
            AppError, match=r"Too many votes: at most 2 every 60 s for one visitor\. Try again in (\d+) s"
        ):
            loop.predict(battles[2], "left", api_name="/vote")
        assert time.perf_counter() - started < 60
        other = Client(url, verbose=False)  # another visitor (session) from the same address still plays
        other_battle = other.predict("Hi", 1, api_name="/battle")[0]
        assert other.predict(other_battle, "tie", api_name="/vote")[0].startswith("**Model A** was")
    assert len(Arena(tmp_path / "arena.sqlite3").votes()) == 3


def test_a_limit_slides_says_when_to_retry_and_bounds_an_address_of_many_sessions():
    now = [0.0]
    limit = SlidingWindowLimit(
        2, 10, "arena_votes_limited", "at most {limit} every {seconds} s; in {wait} s", lambda: now[0]
    )
    limit.take("a", "1.2.3.4")
    now[0] = 4.0
    limit.take("a", "1.2.3.4")
    now[0] = 5.5
    with pytest.raises(RateLimited) as refused:
        limit.take("a", "1.2.3.4")
    assert str(refused.value) == "at most 2 every 10 s; in 5 s" and refused.value.params["wait"] == 5
    now[0] = 10.01  # the first action has left the window
    limit.take("a", "1.2.3.4")
    for visitor in range(2 * ADDRESS_SHARE - 2):  # new sessions from one address: ten visitors' worth in all
        limit.take(f"session-{visitor}", "1.2.3.4")
    with pytest.raises(RateLimited):
        limit.take("yet-another-session", "1.2.3.4")
    limit.take("yet-another-session", "5.6.7.8")
    SlidingWindowLimit(0, 10, "k", "t").take("a")  # 0: no limit


def add_votes(path: Path, count: int, models: int = 4) -> None:
    """`count` votes straight into the arena's file, as after a long day on a busy Space."""
    rng = __import__("random").Random(0)
    names = [f"model-{i}" for i in range(models)]
    battles = [(secrets.token_urlsafe(24), *rng.sample(names, 2)) for _ in range(count)]
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO battles (id, left, right, prompt, started) VALUES (?, ?, ?, 'p', 0)", battles)
        db.executemany(
            "INSERT INTO votes VALUES (?, ?, 1)", [(b[0], rng.choice(["left", "right", "tie"])) for b in battles]
        )


def test_the_leaderboard_at_ten_thousand_votes_answers_at_once_after_its_first_fit(registry, tmp_path):
    Arena(tmp_path / "arena.sqlite3")
    add_votes(tmp_path / "arena.sqlite3", 10_000)
    with arena_app(registry, tmp_path) as url:
        client = Client(url, verbose=False)
        (table, _), first = timed(client.predict, api_name="/leaderboard")
        assert first < 30 and sum(row[4] for row in table["data"]) == 2 * 10_000
        again = [timed(client.predict, api_name="/leaderboard")[1] for _ in range(5)]
        assert max(again) < 1.0, again  # before: 3-12 s each on this machine, growing with the votes
        battle_id = client.predict("Hi", 1, api_name="/battle")[0]
        (*_, table, _), vote_seconds = timed(client.predict, battle_id, "tie", api_name="/vote")
    assert vote_seconds < 5 and sum(row[4] for row in table["data"]) == 2 * 10_001


def test_the_leaderboard_is_fitted_once_per_change_however_many_ask(tmp_path, monkeypatch):
    fits = []
    fit = arena_module.leaderboard
    monkeypatch.setattr(arena_module, "leaderboard", lambda votes: fits.append(len(votes)) or fit(votes))
    arena = Arena(tmp_path / "arena.sqlite3")
    add_votes(arena.path, 500)
    boards = []
    askers = [threading.Thread(target=lambda: boards.append(arena.standings())) for _ in range(8)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(30)
    assert fits == [500] and len({id(board) for board in boards}) == 1
    battle = arena.start(["model-0", "model-1"], "hello")
    arena.vote(battle.id, "left")
    assert arena.standings().version == (501, 501) and arena.standings() is arena.standings()
    assert fits == [500, 501]


# --- row 14: an app reachable from other machines ---------------------------------------------------


@pytest.mark.parametrize(
    "server_name, space_id, public, expected",
    [
        (None, None, None, False),  # Gradio's default, 127.0.0.1
        ("127.0.0.1", None, None, False),
        ("127.0.1.1", None, None, False),  # the loopback range, as Debian names the host
        ("localhost", None, None, False),
        ("::1", None, None, False),
        ("[::1]", None, None, False),
        ("0.0.0.0", None, None, True),
        ("::", None, None, True),
        ("192.168.1.20", None, None, True),
        ("demo.example.org", None, None, True),  # a name could be anything: counted as reachable
        ("127.0.0.1", "someone/llm-demo", None, True),  # a Space is public whatever it binds
        ("0.0.0.0", None, "0", False),  # the deployment says: a private network
        ("127.0.0.1", None, "1", True),  # the deployment says: behind a public proxy
    ],
)
def test_public_is_guessed_from_where_the_app_listens_and_llm_demo_public_overrides(
    monkeypatch, server_name, space_id, public, expected
):
    for name, value in zip(EXPOSURE, (server_name, space_id, public)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    started = time.perf_counter()
    assert is_public() is expected and get_settings().public is expected
    assert time.perf_counter() - started < 1
    assert is_loopback(server_name or "") is (
        server_name in (None, "127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]")
    )


@pytest.mark.parametrize("public", ["1", "0"])
def test_each_default_follows_public_and_gives_way_to_its_own_variable(monkeypatch, public):
    for name in (*EXPOSURE, *DEFAULTED):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_DEMO_PUBLIC", public)
    settings = get_settings()
    shown = (
        settings.allow_custom_models,
        settings.allow_local_paths,
        settings.max_eval_rows,
        settings.max_finetune_rows,
        settings.max_finetuned_models,
        settings.max_model_mb,
    )
    assert shown == ((False, False, 2000, 2000, 10, 2000) if public == "1" else (True, True, 0, 0, 0, 0))
    for name, value in zip(DEFAULTED, ("1", "yes", "50", "60", "3", "700")):
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (settings.allow_custom_models, settings.allow_local_paths, settings.max_eval_rows) == (True, True, 50)
    assert (settings.max_finetune_rows, settings.max_finetuned_models, settings.max_model_mb) == (60, 3, 700)


@pytest.fixture
def public_app(tiny, registry, monkeypatch, tmp_path):
    """The app as `GRADIO_SERVER_NAME=0.0.0.0 python app.py` configures itself (served here on loopback all the
    same), with its own fine-tuned models folder."""
    for name in (*EXPOSURE, *DEFAULTED):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("LLM_DEMO_FINETUNE_DIR", str(tmp_path / "finetuned"))
    monkeypatch.setenv("LLM_DEMO_MAX_FINETUNED_MODELS", "2")
    settings = dataclasses.replace(get_settings(), db_path=tmp_path / "arena.sqlite3")
    assert settings.public
    with served_app(Registry.load(settings)) as url:
        yield Client(url, verbose=False)


def test_a_public_app_refuses_typed_models_folders_and_long_evaluations(public_app, tiny, tmp_path):
    for typed in ("someone/any-model", str(tiny.mlm)):  # a Hub id, a folder with a model in it
        with pytest.raises(AppError, match="is not in the list of choices"):  # the picker takes no typed value
            public_app.predict("good film", typed, api_name="/sentiment")
        with pytest.raises(InputError, match="This deployment only offers its listed models"):  # nor the backend
            Registry.load().resolve("sentiment", typed)
    rows = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["good film"] * 2001, "label": ["positive"] * 2001}).to_csv(rows, index=False)
    started = time.perf_counter()
    with pytest.raises(AppError, match=r"has 2,001 rows; this deployment evaluates at most 2,000\. Upload a sample"):
        public_app.predict(
            handle_file(str(rows)),
            "sentiment",
            ["Tiny BERT sentiment"],
            "text",
            "label",
            *[None] * 5,
            api_name="/evaluate",
        )
    assert time.perf_counter() - started < 30
    table, _ = public_app.predict("good film", "Tiny BERT sentiment", api_name="/sentiment")  # listed ones work
    assert table["data"][0][0] == "good film"


def saved_model(folder: Path, age_seconds: float) -> Path:
    """A saved model as the registry lists it (a folder with a config.json), saved `age_seconds` ago."""
    folder.mkdir(parents=True)
    config = folder / "config.json"
    config.write_text("{}", encoding="utf-8")
    os.utime(config, (time.time() - age_seconds, time.time() - age_seconds))
    return folder


def test_a_public_app_keeps_only_its_newest_fine_tuned_models(public_app, tmp_path):
    from test_finetune import BASE, topic_sentences

    finetuned = tmp_path / "finetuned"
    saved_model(finetuned / "oldest", 3600)
    saved_model(finetuned / "older", 1800)
    rows = topic_sentences(60, seed=1)
    data = tmp_path / "topics.csv"
    pd.DataFrame({"text": rows.texts, "label": rows.labels}).to_csv(data, index=False)
    (_, _, status, archive, _), seconds = timed(
        public_app.predict,
        handle_file(str(data)), "text", "label", BASE, "newest", 1, 5e-5, 16, 16, 0.01, 0.1, 0.2, 42, 0,
        api_name="/finetune",
    )  # fmt: skip
    assert seconds < 300 and Path(archive).is_file()
    assert status.endswith("This app keeps only its 2 newest fine-tuned models: download the zip to keep yours.")
    assert sorted(path.name for path in finetuned.iterdir()) == ["newest", "older"]
    assert "oldest (fine-tuned)" not in Registry.load().choices("classification")  # no longer listed to anyone


def test_keep_newest_removes_the_oldest_and_never_follows_a_link(tmp_path):
    folder = tmp_path / "finetuned"
    for age, name in ((300, "a"), (200, "b"), (100, "c")):
        saved_model(folder / name, age)
    elsewhere = saved_model(tmp_path / "kept-elsewhere", 1000)
    (folder / "link").symlink_to(elsewhere)
    assert keep_newest(folder, 0) == [] and keep_newest(folder, 2) == [folder / "a"]
    assert sorted(path.name for path in folder.iterdir()) == ["b", "c", "link"] and elsewhere.is_dir()


def test_a_typed_hub_model_is_measured_from_its_listing_and_refused_naming_size_limit_and_variable(monkeypatch):
    sizes = {"config.json": 700, "model.safetensors": 4_500_000, "pytorch_model.bin": 9_000_000_000, "README.md": 300}
    typed = ModelEntry(model="someone/big", name="someone/big", task="sentiment", typed=True)
    monkeypatch.setenv("LLM_DEMO_MAX_MODEL_MB", "4")
    with pytest.raises(ModelError) as refused:
        check_model_size(typed, sizes)  # the .bin is not fetched where there are safetensors
    assert str(refused.value) == (
        "'someone/big' is 5 MB, more than the 4 MB this deployment allows for a model typed in "
        "(LLM_DEMO_MAX_MODEL_MB). Choose a smaller model or one of the listed ones."
    )
    check_model_size(dataclasses.replace(typed, typed=False), sizes)  # the deployment's own list is not capped
    monkeypatch.setenv("LLM_DEMO_MAX_MODEL_MB", "5")
    check_model_size(typed, sizes)
    monkeypatch.setenv("LLM_DEMO_MAX_MODEL_MB", "0")
    check_model_size(typed, {"model.safetensors": 10**12})


def test_a_typed_hub_model_over_the_cap_is_refused_before_any_file_downloads(tiny, tmp_path):
    """A real app process, public, with typed Hub ids turned back on and a 1 MB cap, against a stand-in Hub."""
    port = free_port()
    start = (
        "from llm_demo.ui import build_app, launch_options; "
        f"build_app().launch(server_name='127.0.0.1', server_port={port}, **launch_options())"
    )
    with serving({"acme/tiny-sentiment": tiny.sentiment}) as (hub, requests):
        env = {
            **hub_environment(hub, tmp_path / "hf"),
            "LLM_DEMO_MODELS": str(tiny.models_file),
            "LLM_DEMO_DB": str(tmp_path / "arena.sqlite3"),
            "LLM_DEMO_PUBLIC": "1",
            "LLM_DEMO_ALLOW_CUSTOM_MODELS": "1",
            "LLM_DEMO_MAX_MODEL_MB": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        with app_process([sys.executable, "-c", start], env):
            client = Client(wait_for(f"http://127.0.0.1:{port}/"), verbose=False)
            started = time.perf_counter()
            with pytest.raises(
                AppError, match=r"^'acme/tiny-sentiment' is [2-9] MB, more than the 1 MB .*\(LLM_DEMO_MAX_MODEL_MB\)"
            ):
                client.predict("good film", "acme/tiny-sentiment", api_name="/sentiment")
            assert time.perf_counter() - started < 30
    assert any(request.startswith("GET /api/models/acme/tiny-sentiment/tree/") for request in requests)
    assert not [request for request in requests if "/resolve/" in request]  # not one file, not even config.json
