"""What if? An edited copy through the same model: its probabilities (or answer) are the task's own on the edited
text, the edit is a word diff (Chinese by dictionary words), and the endpoints show both with the change."""

from __future__ import annotations

import pytest

from llm_demo.models.types import QASettings
from llm_demo.registry import KIND_OF_TASK
from llm_demo.tasks.classification import classify, zero_shot
from llm_demo.tasks.qa import answer
from llm_demo.tasks.what_if import ADDED, REMOVED, Edit, what_if, what_if_answer, word_diff

ORIGINAL, EDITED = "I loved this film, the acting was wonderful.", "I hated this film, the acting was wonderful!"
CONTEXT = "The Eiffel Tower is in Paris. It was completed in 1889 for the World's Fair."


def test_word_diff_marks_what_the_edit_removed_and_added():
    assert word_diff(ORIGINAL, EDITED) == [
        Edit("I ", None),
        Edit("loved", REMOVED),
        Edit("hated", ADDED),
        Edit(" this film, the acting was wonderful", None),
        Edit(".", REMOVED),
        Edit("!", ADDED),
    ]


def test_word_diff_of_chinese_works_by_dictionary_words():
    assert word_diff("我喜欢这部电影。", "我讨厌这部电影。") == [
        Edit("我", None),
        Edit("喜欢", REMOVED),
        Edit("讨厌", ADDED),
        Edit("这部电影。", None),
    ]


def test_the_shared_pieces_and_each_side_join_back_to_both_texts():
    diff = word_diff(ORIGINAL, EDITED)
    assert "".join(edit.text for edit in diff if edit.kind != ADDED) == ORIGINAL
    assert "".join(edit.text for edit in diff if edit.kind != REMOVED) == EDITED


def test_an_edit_s_probabilities_are_the_classification_task_s_on_each_text(load):
    model = load("sentiment", "Tiny BERT sentiment", KIND_OF_TASK["sentiment"])
    result = what_if(model, ORIGINAL, EDITED)
    assert result.original == classify(model, [ORIGINAL])[0]
    assert result.edited == classify(model, [EDITED])[0]
    assert [(c.label, c.before, c.after) for c in result.changes] == [
        (score.label, score.score, next(s.score for s in result.edited.scores if s.label == score.label))
        for score in result.original.scores
    ]
    assert result.flipped == (result.original.label != result.edited.label)


def test_a_zero_shot_edit_scores_the_user_s_labels_as_the_task_does(load):
    model = load("classification", "Tiny BERT NLI", KIND_OF_TASK["classification"])
    result = what_if(model, "the match was exciting", "the soup was exciting", "sport, food", multi_label=True)
    assert result.edited == zero_shot(model, ["the soup was exciting"], ["sport", "food"], multi_label=True)[0]


def test_an_edited_question_or_context_is_answered_as_the_qa_task_answers_it(load):
    model = load("qa", "Tiny BERT QA", KIND_OF_TASK["qa"])
    edited = CONTEXT.replace("1889", "1887")
    result = what_if_answer(model, "When was it completed?", CONTEXT, "When was it finished?", edited)
    assert result.before == answer(model, ["When was it completed?"], [CONTEXT], QASettings())[0][0]
    assert result.after == answer(model, ["When was it finished?"], [edited], QASettings())[0][0]
    assert [edit.text for edit in result.context_diff if edit.kind] == ["1889", "1887"]
    assert [edit.text for edit in result.question_diff if edit.kind] == ["completed", "finished"]


def test_what_if_endpoint_shows_both_texts_probabilities_and_the_diff(client, load):
    diff, scores, summary, status = client.predict(
        ORIGINAL, EDITED, "Tiny BERT sentiment", "", False, api_name="/what_if"
    )
    model = load("sentiment", "Tiny BERT sentiment", KIND_OF_TASK["sentiment"])
    before, after = classify(model, [ORIGINAL])[0], classify(model, [EDITED])[0]
    assert scores["headers"] == ["Label", "Original", "Edited", "Change"]
    assert [row[:3] for row in scores["data"]] == [
        [s.label, round(s.score, 4), round(next(a.score for a in after.scores if a.label == s.label), 4)]
        for s in before.scores
    ]
    assert [(piece["token"], piece["class_or_confidence"]) for piece in diff if piece["class_or_confidence"]] == [
        ("loved", "−"),
        ("hated", "+"),
        (".", "−"),
        ("!", "+"),
    ]
    assert before.label in summary and "tiny-bert-sentiment" in status


def test_what_if_answer_endpoint_answers_before_and_after(client, load):
    edited = CONTEXT.replace("Paris", "Lyon")
    question_diff, context_diff, answers, summary, *_ = client.predict(
        "Where is it?", CONTEXT, "Where is it?", edited, "Tiny BERT QA", api_name="/what_if_answer"
    )
    model = load("qa", "Tiny BERT QA", KIND_OF_TASK["qa"])
    before = answer(model, ["Where is it?"], [CONTEXT], QASettings())[0][0]
    after = answer(model, ["Where is it?"], [edited], QASettings())[0][0]
    assert answers["data"] == [
        ["Original", before.text, pytest.approx(round(before.score, 4))],
        ["Edited", after.text, pytest.approx(round(after.score, 4))],
    ]
    assert [piece["class_or_confidence"] for piece in question_diff] == [None]
    assert [piece["token"] for piece in context_diff if piece["class_or_confidence"]] == ["Paris", "Lyon"]


def test_counterfactuals_endpoint_lists_only_verified_flips(client, load):
    text = "the service was slow and the food was cold"
    table, note, _ = client.predict(text, "Tiny BERT sentiment", "", False, 60, api_name="/counterfactuals")
    model = load("sentiment", "Tiny BERT sentiment", KIND_OF_TASK["sentiment"])
    original = classify(model, [text])[0]
    assert table["headers"] == ["Edit", "Edited text", "Changed", "New label", "Probability"]
    for _, edited, _, label, score in table["data"]:
        again = classify(model, [edited])[0]
        assert again.label == label != original.label and again.score == pytest.approx(score, abs=1e-4)
    assert "texts classified" in note


def test_a_chinese_edit_is_marked_by_words_for_a_chinese_reader(client):
    from gradio_client import Client

    chinese = Client(client.src, headers={"Accept-Language": "zh-CN"}, verbose=False)
    diff, _, summary, *_ = chinese.predict(
        "我喜欢这部电影", "我讨厌这部电影", "Tiny BERT sentiment", "", False, api_name="/what_if"
    )
    assert [(piece["token"], piece["class_or_confidence"]) for piece in diff if piece["class_or_confidence"]] == [
        ("喜欢", "−"),
        ("讨厌", "+"),
    ]
    assert "标签" in summary
