"""A worst row or a robustness flip of the evaluation tab, carried to What if?: the row's whole text read back from
the file (the tables shorten it), a flip's perturbed copy made again, a zero-shot file's labels as candidates."""

from __future__ import annotations

from helpers import write

from llm_demo.evaluation.robustness import perturb
from llm_demo.ui.evaluation_whatif import carried

LONG = "a film " * 60 + "that I liked"  # longer than the tables show


def test_a_picked_row_arrives_whole_with_its_model(tmp_path):
    data = write(tmp_path, "d.csv", f"text,label\nshort one,positive\n{LONG},negative\n")
    picked = {"model": "Tiny BERT sentiment", "row": 2, "perturbation": None}
    assert carried(picked, str(data), "sentiment", "text", "label") == [LONG, LONG, "Tiny BERT sentiment", "", False]


def test_a_flip_arrives_beside_its_perturbed_copy_and_zero_shot_with_the_files_labels(tmp_path):
    data = write(tmp_path, "d.csv", "text,label\nGood film,positive\nBad film,negative\nOk,Positive\n")
    picked = {"model": "Tiny BERT NLI", "row": 1, "perturbation": "upper_case"}
    original, edited, model, labels, multi = carried(picked, str(data), "zero-shot", "text", "label")
    assert (original, edited, model, labels, multi) == (
        "Good film",
        "GOOD FILM",
        "Tiny BERT NLI",
        "positive, negative",
        False,
    )
    assert edited == perturb("upper_case", original)


def test_nothing_picked_or_another_task_changes_nothing(tmp_path):
    data = write(tmp_path, "d.csv", "question,context,answer\nq,c,a\n")
    assert all(not isinstance(v, str) for v in carried(None, str(data), "sentiment", "text", "label"))
    assert all(
        not isinstance(v, str) for v in carried({"model": "m", "row": 1, "perturbation": None}, str(data), "qa", "", "")
    )
