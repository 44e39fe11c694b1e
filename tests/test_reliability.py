"""Many users at once, a bounded cache, and a server that exposes nothing but the app."""

from __future__ import annotations

import gc
import weakref

import httpx
from helpers import entry
from load.mixed_clients import run_load

from llm_demo.models.cache import ModelCache
from llm_demo.ui import launch_options


def test_mixed_concurrent_users_all_get_answers(app_url):
    models = {"sentiment": "Tiny BERT sentiment", "qa": "Tiny BERT QA", "generation": "Tiny GPT-2"}
    report = run_load(app_url, models, clients=4, seconds=6)
    print("\n".join(report.lines()))
    assert report.errors == []
    assert set(report.latencies) == {"/sentiment", "/answer", "/generate"}


def test_evicted_models_release_their_memory(tiny):
    cache = ModelCache(capacity=1)
    first = cache.get(entry(tiny.sentiment, "a", "sentiment"), "sequence-classification")
    model_ref = weakref.ref(first.model)
    del first
    cache.get(entry(tiny.qa, "b", "qa"), "question-answering")
    gc.collect()
    assert model_ref() is None
    assert cache.loaded_ids() == [str(tiny.qa)]


def test_the_server_serves_no_file_of_the_machine(app_url):
    for path in ("/etc/passwd", "etc/passwd", "../../etc/passwd"):
        for prefix in ("gradio_api/file=", "file="):
            response = httpx.get(f"{app_url}{prefix}{path}")
            assert response.status_code in {403, 404}, (prefix, path, response.status_code)
            assert "root:" not in response.text


def test_the_app_is_never_shared_publicly_and_caps_uploads(monkeypatch):
    monkeypatch.setenv("LLM_DEMO_MAX_UPLOAD_MB", "5")
    options = launch_options()
    assert options["share"] is False
    assert "server_name" not in options  # Gradio then binds 127.0.0.1 unless GRADIO_SERVER_NAME says otherwise
    assert options["max_file_size"] == "5mb"


def test_the_server_listens_on_loopback_only(app_url):
    assert app_url.startswith("http://127.0.0.1:")


def test_download_folders_older_than_the_keep_time_are_removed(monkeypatch, tmp_path):
    import os
    import time

    from llm_demo.ui import common

    monkeypatch.setattr(common.tempfile, "tempdir", str(tmp_path))
    old = common.download_folder()
    (old / "predictions.csv").write_text("x", encoding="utf-8")
    long_ago = time.time() - common.DOWNLOADS_KEPT_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    recent = common.download_folder()
    fresh = common.download_folder()
    assert not old.exists() and recent.exists() and fresh.exists() and recent != fresh


def test_download_folders_live_in_a_private_parent_no_one_can_guess(monkeypatch, tmp_path):
    import stat

    from llm_demo.ui import common

    monkeypatch.setattr(common.tempfile, "tempdir", str(tmp_path))
    run = common.download_folder("evaluation-0123")
    parent = run.parent
    assert parent.parent == tmp_path and parent.name.startswith("llm_demo-downloads-") and len(parent.name) > 24
    assert stat.S_IMODE(parent.stat().st_mode) == 0o700 and stat.S_IMODE(run.stat().st_mode) == 0o700
    assert common.download_folder("evaluation-0123") == run  # Continue finds the stopped run by its name
    assert common.download_folder().parent == parent
    monkeypatch.setattr(common.tempfile, "tempdir", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    assert common.download_folder("evaluation-0123").parent.name != parent.name


def test_parents_left_by_earlier_runs_of_the_app_are_removed_after_the_keep_time(monkeypatch, tmp_path):
    import os
    import time

    from llm_demo.ui import common

    monkeypatch.setattr(common.tempfile, "tempdir", str(tmp_path))
    left, recent = (tmp_path / f"{common.DOWNLOADS_PREFIX}{name}" for name in ("old", "new"))
    for parent in (left, recent):
        (parent / "run").mkdir(parents=True)
        (parent / "run" / "predictions.csv").write_text("x", encoding="utf-8")
    long_ago = time.time() - common.DOWNLOADS_KEPT_SECONDS - 60
    for path in (left / "run", left, recent):
        os.utime(path, (long_ago, long_ago))
    unrelated = tmp_path / "somebody-else"
    unrelated.mkdir()
    os.utime(unrelated, (long_ago, long_ago))
    common.download_folder()
    assert not left.exists() and (recent / "run").exists() and unrelated.exists()


def test_an_upload_over_the_size_limit_is_refused(app_url):
    too_big = b"text,label\n" + b"x" * (50 * 1024 * 1024 + 1)  # the default LLM_DEMO_MAX_UPLOAD_MB is 50
    response = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("big.csv", too_big, "text/csv")}, timeout=60)
    assert response.status_code == 413
    assert "File size exceeded" in response.text or "too large" in response.text.lower()


def test_the_queue_wakes_fifty_times_a_second_and_gradio_still_reads_those_settings(tiny):
    """Gradio polls its queue every millisecond, taking a core from torch's threads; ours polls every 20 ms.
    If Gradio renamed the settings, poll_less would quietly set nothing: its loops must still read them."""
    import inspect

    from gradio.queueing import Queue

    from llm_demo.ui import build_app

    queue = build_app()._queue
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (0.02, 0.05)
    assert "self.sleep_when_free" in inspect.getsource(Queue.start_processing)
    assert "self.progress_update_sleep_when_free" in inspect.getsource(Queue.start_progress_updates)
