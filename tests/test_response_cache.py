"""The answers task's cache: each answer and verdict kept under what determines it, failures never kept."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from llm_demo.errors import InputError, ModelError
from llm_demo.evaluation.response_cache import ResponseCache


def answer_key(model: str, prompt: str) -> dict:
    return {"model": model, "prompt": prompt, "settings": {"max_new_tokens": 64, "temperature": 0.0}}


class Recorder:
    """A compute function that answers "<model>: <prompt>", in batches of two, remembering what it was asked."""

    def __init__(self, keys: list[dict], fail: set[int] = frozenset()) -> None:
        self.keys, self.fail, self.asked = keys, fail, []

    def __call__(self, indices: list[int]):
        self.asked.append(list(indices))
        for start in range(0, len(indices), 2):
            positions = list(range(start, min(start + 2, len(indices))))
            yield positions, [self.result(indices[position]) for position in positions]

    def result(self, index: int):
        if index in self.fail:
            return ModelError("generation_failed", "The server gave up on row {row}.", row=index)
        return f"{self.keys[index]['model']}: {self.keys[index]['prompt']}"


def collect(batches) -> dict[int, object]:
    found = {}
    for indices, results in batches:
        assert len(indices) == len(results)
        found.update(zip(indices, results, strict=True))
    return found


def test_a_stored_result_reads_back_the_same_and_a_missing_one_is_none(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    verdict = {"winner": "a", "swapped": "b", "reason": "A answers the question"}
    cache.store("verdict", {"judge": "j", "a": "x", "b": "y"}, verdict)
    assert cache.lookup("verdict", {"b": "y", "a": "x", "judge": "j"}) == verdict  # key order does not matter
    assert cache.lookup("verdict", {"judge": "j", "a": "x", "b": "z"}) is None
    assert cache.lookup("grade", {"judge": "j", "a": "x", "b": "y"}) is None  # the kind is part of the key


def test_map_reuses_what_is_cached_and_computes_only_the_missing_rows(tmp_path):
    keys = [answer_key("m1", f"prompt {i}") for i in range(3)] + [answer_key("m2", f"prompt {i}") for i in range(3)]
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    first = Recorder(keys[:3])
    assert collect(cache.map("answer", keys[:3], first)) == {0: "m1: prompt 0", 1: "m1: prompt 1", 2: "m1: prompt 2"}
    assert first.asked == [[0, 1, 2]] and cache.computed["answer"] == 3 and cache.reused["answer"] == 0

    second = Recorder(keys)  # one more model: only its three answers are generated
    batches = list(cache.map("answer", keys, second))
    assert second.asked == [[3, 4, 5]]
    assert batches[0] == ([0, 1, 2], ["m1: prompt 0", "m1: prompt 1", "m1: prompt 2"])  # the cached ones first
    assert batches[1:] == [([3, 4], ["m2: prompt 0", "m2: prompt 1"]), ([5], ["m2: prompt 2"])]  # mapped back
    assert cache.reused == {"answer": 3} and cache.computed == {"answer": 6}

    third = Recorder(keys)
    assert collect(cache.map("answer", keys, third)) == {i: third.result(i) for i in range(6)}
    assert third.asked == [] and cache.reused == {"answer": 9}


def test_a_failed_row_is_passed_on_but_never_cached(tmp_path):
    keys = [answer_key("m1", f"prompt {i}") for i in range(3)]
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    results = collect(cache.map("answer", keys, Recorder(keys, fail={1})))
    assert isinstance(results[1], ModelError) and results[0] == "m1: prompt 0"
    assert cache.lookup("answer", keys[1]) is None and cache.computed["answer"] == 3
    again = Recorder(keys)
    assert collect(cache.map("answer", keys, again))[1] == "m1: prompt 1"
    assert again.asked == [[1]]  # the next run tries the failed row again, and only it


def test_a_disabled_cache_always_computes_and_writes_nothing(tmp_path):
    path = tmp_path / "cache.sqlite3"
    ResponseCache(path).store("answer", answer_key("m1", "p"), "kept")
    before = path.read_bytes()
    cache = ResponseCache(path, enabled=False)
    keys = [answer_key("m1", "p"), answer_key("m1", "q")]
    recorder = Recorder(keys)
    assert collect(cache.map("answer", keys, recorder)) == {0: "m1: p", 1: "m1: q"}
    assert recorder.asked == [[0, 1]] and cache.computed == {"answer": 2} and cache.reused == {}
    cache.store("answer", keys[1], "ignored")
    assert cache.lookup("answer", keys[0]) is None
    assert path.read_bytes() == before and ResponseCache(path).lookup("answer", keys[1]) is None
    ResponseCache(tmp_path / "never" / "cache.sqlite3", enabled=False)
    assert not (tmp_path / "never").exists()


def test_a_second_cache_on_the_same_file_sees_the_first_ones_results(tmp_path):
    path = tmp_path / "runs" / "cache.sqlite3"
    keys = [answer_key("m1", "p")]
    collect(ResponseCache(path).map("answer", keys, Recorder(keys)))
    restarted = ResponseCache(path)
    recorder = Recorder(keys)
    assert collect(restarted.map("answer", keys, recorder)) == {0: "m1: p"} and recorder.asked == []
    restarted.store("grade", {"judge": "j", "answer": "m1: p"}, {"score": 7})
    assert ResponseCache(path).lookup("grade", {"judge": "j", "answer": "m1: p"}) == {"score": 7}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        requests = sorted(row[0] for row in db.execute("SELECT request FROM responses"))
    assert requests[0] == '{"answer":"m1: p","judge":"j","kind":"grade"}'  # the key, readable for inspection


def test_unicode_keys_and_values_are_kept_exactly(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    key = answer_key("Qwen/Qwen2.5-0.5B-Instruct", "用一句话解释量子纠缠。Ça va ? 🙂")
    cache.store("answer", key, "量子纠缠是两个粒子状态的关联。")
    assert ResponseCache(tmp_path / "cache.sqlite3").lookup("answer", dict(key)) == "量子纠缠是两个粒子状态的关联。"
    assert cache.lookup("answer", answer_key("Qwen/Qwen2.5-0.5B-Instruct", "用一句话解释量子纠缠。")) is None


def test_threads_storing_at_once_lose_nothing(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    keys = [answer_key(f"m{thread}", f"p{i}") for thread in range(4) for i in range(25)]
    workers = [
        threading.Thread(
            target=lambda part=keys[t * 25 : (t + 1) * 25]: collect(cache.map("answer", part, Recorder(part)))
        )
        for t in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert cache.computed == {"answer": 100}
    assert all(cache.lookup("answer", key) == f"{key['model']}: {key['prompt']}" for key in keys)


def test_a_file_that_is_not_a_database_is_named_in_an_input_error(tmp_path):
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"\x00\xffnot a database at all\x13\x37" * 200)
    with pytest.raises(InputError) as caught:
        ResponseCache(path)
    assert caught.value.key == "cache_unreadable" and str(path) in str(caught.value)
    assert "--no-cache" in str(caught.value)
    ResponseCache(path, enabled=False)  # --no-cache runs anyway


def test_a_key_that_would_hide_its_kind_is_a_bug(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite3")
    with pytest.raises(ValueError, match="'kind'"):
        cache.store("answer", {"kind": "grade", "prompt": "p"}, "x")
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache.lookup("answers", {"prompt": "p"})
