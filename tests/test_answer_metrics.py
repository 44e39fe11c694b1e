"""Answer metrics equal rouge-score's and sacrebleu's, score Chinese by character, and survive a saved state."""

from __future__ import annotations

import json
from array import array

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from llm_demo.evaluation import answer_metrics
from llm_demo.evaluation.answer_metrics import AnswerTally, mean_interval, normalised, rouge_l

ENGLISH = [
    ("The quick brown fox jumps over the lazy dog.", "A quick brown dog jumped over the fox!"),
    ("Paris is the capital of France.", "The capital of France is Paris, of course."),
    ("It costs 42 dollars (USD), not 40.", "it costs 40 dollars"),
]
CHINESE = [("我爱北京天安门", "我在北京"), ("今天天气很好。", "今天天气不错。"), ("长城很长", "长城非常长")]


def tally_of(pairs, grades=None) -> AnswerTally:
    tally = AnswerTally()
    tally.add([reference for reference, _ in pairs], [answer for _, answer in pairs])
    if grades is not None:
        tally.add_grades(grades)
    return tally


@pytest.mark.parametrize(("reference", "answer"), ENGLISH)
def test_english_rouge_l_equals_rouge_score_default(reference, answer):
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(reference, answer)["rougeL"].fmeasure
    assert rouge_l(reference, answer) == expected > 0


def test_chinese_rouge_l_is_scored_by_character():
    # LCS of 我爱北京天安门 (7) and 我在北京 (4) is 我北京 (3): P = 3/4, R = 3/7, F = 2PR / (P + R) = 6/11.
    assert rouge_l("我爱北京天安门", "我在北京") == pytest.approx(6 / 11)
    assert rouge_l("GPU 很快", "gpu很快") == 1.0  # Latin words stay words, each Han character is a token
    assert rouge_l("東京です", "東京") == pytest.approx(2 * 1 * 0.5 / 1.5)  # kana count too


def test_english_chrf_and_bleu_equal_sacrebleu_corpus_scores():
    metrics = tally_of(ENGLISH).metrics(bootstrap=0)
    references, answers = [[r for r, _ in ENGLISH]], [a for _, a in ENGLISH]
    assert metrics.chrf == sacrebleu.corpus_chrf(answers, references).score
    assert metrics.bleu == sacrebleu.corpus_bleu(answers, references).score
    assert metrics.rouge_l == pytest.approx(sum(rouge_l(r, a) for r, a in ENGLISH) / 3)


def test_chinese_bleu_uses_the_zh_tokenizer():
    metrics = tally_of(CHINESE).metrics(bootstrap=0)
    references, answers = [[r for r, _ in CHINESE]], [a for _, a in CHINESE]
    assert metrics.bleu == sacrebleu.corpus_bleu(answers, references, tokenize="zh").score
    assert metrics.bleu != sacrebleu.corpus_bleu(answers, references).score  # 13a would see one word per sentence
    assert metrics.chrf == sacrebleu.corpus_chrf(answers, references).score


def test_exact_match_after_normalisation_counts_only_referenced_rows():
    tally = AnswerTally()
    references = ["The Eiffel Tower.", "北京", "42", None, "  "]  # the last two have none
    scores = tally.add(references, ["eiffel  tower", "北京。", "forty-two", "x", "y"])
    assert [score is None for score in scores] == [False, False, False, True, True]
    metrics = tally.metrics(bootstrap=0)
    assert (metrics.rows, metrics.references, metrics.exact_match) == (5, 3, 2 / 3)
    assert normalised("「北京」！") == "北京"


def test_without_references_only_length_and_judge_fields_are_filled():
    tally = AnswerTally()
    assert tally.metrics() is None
    assert tally.add([None, None], ["ab", "北京市"]) == [None, None]
    tally.add_grades([8.0, None])
    metrics = tally.metrics()
    assert (metrics.rows, metrics.mean_length, metrics.references) == (2, 2.5, 0)
    assert metrics.exact_match is metrics.rouge_l is metrics.chrf is metrics.bleu is None
    assert metrics.exact_match_ci is metrics.rouge_l_ci is None
    assert (metrics.judge_score, metrics.unscored) == (8.0, 1)


def test_judge_mean_and_interval_on_known_grades():
    tally = tally_of([(None, "a"), (None, "b"), (None, "c")], grades=[2.0, None, 8.0])
    metrics = tally.metrics(bootstrap=1000, seed=0)
    assert (metrics.judge_score, metrics.unscored) == (5.0, 1)
    # Resampled means of two grades are 2, 5 or 8 with chances 1/4, 1/2, 1/4: the 95% interval is the extremes.
    assert metrics.judge_score_ci == (2.0, 8.0)
    assert tally_of([(None, "a")], grades=[7.0]).metrics().judge_score_ci is None  # one row: no interval


def test_bootstrap_interval_contains_the_mean_and_is_fixed_by_the_seed():
    pairs = ENGLISH + CHINESE + [("same answer", "same answer"), ("yes", "no")]
    tally = tally_of(pairs)
    first, again, other = tally.metrics(seed=3), tally.metrics(seed=3), tally.metrics(seed=4)
    assert first == again
    assert first.rouge_l_ci != other.rouge_l_ci
    assert first.rouge_l_ci[0] <= first.rouge_l <= first.rouge_l_ci[1]
    assert first.rouge_l_ci[0] < first.rouge_l_ci[1]
    assert first.exact_match_ci[0] <= first.exact_match == 1 / 8 <= first.exact_match_ci[1]
    assert tally.metrics(bootstrap=0).rouge_l_ci is tally.metrics(bootstrap=0).exact_match_ci is None


def test_resamples_drawn_in_blocks_give_the_interval_of_one_draw(monkeypatch):
    values = array("d", [(row * 7 % 11) / 10 for row in range(37)])
    whole = mean_interval(values, 1000, seed=5)
    monkeypatch.setattr(answer_metrics, "_BOOTSTRAP_DRAWS", 100)  # two resamples of 37 rows at a time
    assert mean_interval(values, 1000, seed=5) == whole
    assert whole[0] < sum(values) / len(values) < whole[1]


def test_state_saved_between_windows_gives_the_metrics_of_one_run():
    pairs = ENGLISH + [(None, "no reference here")] + CHINESE
    grades = [7.0, None, 3.5, 9.0, 1.0, None, 6.0]
    whole = tally_of(pairs, grades)
    first = tally_of(pairs[:4], grades[:4])
    continued = AnswerTally()
    continued.restore(json.loads(json.dumps(first.state())))
    continued.add([reference for reference, _ in pairs[4:]], [answer for _, answer in pairs[4:]])
    continued.add_grades(grades[4:])
    assert continued.metrics() == whole.metrics()
    assert continued.state() == whole.state()
