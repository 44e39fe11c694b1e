"""People reviewing an answers run: grades and picks kept per reviewer, and the judge's agreement with them."""

from __future__ import annotations

import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from llm_demo.arena import Arena, Vote
from llm_demo.errors import InputError
from llm_demo.evaluation.reviews import MIN_REVIEWS, Review, ReviewStore, agreement, count_in_arena
from llm_demo.safe_csv import csv_text

RUN = "run-3f2a"


def pick(row: int, value: str, reviewer: str = "", models: tuple[str, str] = ("m1", "m2")) -> Review:
    return Review(RUN, row, "pair", *models, value, "", reviewer, 0.0)


def grade(row: int, model: str, value: str, reviewer: str = "") -> Review:
    return Review(RUN, row, "grade", model, "", value, "", reviewer, 0.0)


def test_reviews_survive_a_new_store_on_the_same_file_beside_the_arena(tmp_path):
    path = tmp_path / "llm_demo.sqlite3"
    Arena(path)
    store = ReviewStore(path)
    graded = store.add_grade(RUN, 0, "m1", "4", comment="  Right, but long.  ", reviewer="Li Wei")
    picked = store.add_pick(RUN, 0, "m1", "m2", "tie")
    store.add_grade("another-run", 0, "m1", "up")
    assert graded == Review(RUN, 0, "grade", "m1", "", "4", "Right, but long.", "Li Wei", graded.created)
    assert ReviewStore(path).reviews(RUN) == [graded, picked]
    assert Arena(path).votes() == []  # a pick is not a vote until count_in_arena says so


def test_the_same_reviewer_replaces_an_earlier_review_and_another_reviewer_adds_one(tmp_path):
    store = ReviewStore(tmp_path / "db.sqlite3")
    store.add_grade(RUN, 2, "m1", "2", reviewer="ana")
    store.add_grade(RUN, 2, "m1", "5", comment="on second reading, right", reviewer="ana")
    store.add_grade(RUN, 2, "m1", "down", reviewer="bo")
    store.add_grade(RUN, 2, "m2", "up", reviewer="ana")  # another answer: its own grade
    store.add_pick(RUN, 2, "m1", "m2", "a", reviewer="ana")
    store.add_pick(RUN, 2, "m2", "m1", "a", reviewer="ana")  # the same pair shown the other way round
    found = [(r.kind, r.model, r.other, r.value, r.reviewer, r.comment) for r in store.reviews(RUN)]
    assert found == [
        ("grade", "m1", "", "5", "ana", "on second reading, right"),
        ("grade", "m1", "", "down", "bo", ""),
        ("grade", "m2", "", "up", "ana", ""),
        ("pair", "m1", "m2", "b", "ana", ""),  # m2 was A and won: m2 is B in sorted order
    ]


def test_a_pick_is_kept_with_the_models_sorted_and_its_value_flipped(tmp_path):
    store = ReviewStore(tmp_path / "db.sqlite3")
    a_wins = store.add_pick(RUN, 1, "zephyr", "qwen", "a", reviewer="x")
    same = store.add_pick(RUN, 1, "qwen", "zephyr", "b", reviewer="y")
    assert (a_wins.model, a_wins.other, a_wins.value) == (same.model, same.other, same.value) == ("qwen", "zephyr", "b")
    assert store.add_pick(RUN, 1, "zephyr", "qwen", "TIE ", reviewer="z").value == "tie"


@pytest.mark.parametrize(
    "call, key",
    [
        (lambda s: s.add_grade(RUN, 0, "m1", "6"), "bad_review_grade"),
        (lambda s: s.add_grade(RUN, 0, "m1", "0"), "bad_review_grade"),
        (lambda s: s.add_grade(RUN, 0, "m1", "tie"), "bad_review_grade"),
        (lambda s: s.add_pick(RUN, 0, "m1", "m2", "4"), "bad_review_pick"),
        (lambda s: s.add_pick(RUN, 0, "m1", "m1", "a"), "bad_review_models"),
        (lambda s: s.add_grade(RUN, 0, "m1", "3", comment="x" * 2001), "bad_review_comment"),
        (lambda s: s.add_grade(RUN, 0, "m1", "3", reviewer="n" * 101), "bad_review_reviewer"),
        (lambda s: s.add_grade(RUN, -1, "m1", "3"), "bad_review_row"),
        (lambda s: s.add_grade(RUN, "2", "m1", "3"), "bad_review_row"),
    ],
)
def test_an_invalid_review_is_an_input_error_and_keeps_nothing(tmp_path, call, key):
    store = ReviewStore(tmp_path / "db.sqlite3")
    with pytest.raises(InputError) as caught:
        call(store)
    assert caught.value.key == key and store.reviews(RUN) == []


def test_grades_take_numbers_thumbs_and_a_comment_of_exactly_the_limit(tmp_path):
    store = ReviewStore(tmp_path / "db.sqlite3")
    assert store.add_grade(RUN, 0, "m1", 3).value == "3"  # a widget's number
    assert store.add_grade(RUN, 0, "m2", " Up").value == "up"
    assert len(store.add_grade(RUN, 1, "m1", "1", comment="注" * 2000).comment) == 2000
    with pytest.raises(InputError, match="one of 1, 2, 3, 4, 5, up, down; '7' is not"):
        store.add_grade(RUN, 0, "m1", "7")


def test_export_rows_has_a_header_rows_from_one_and_utc_times(tmp_path):
    store = ReviewStore(tmp_path / "db.sqlite3")
    review = store.add_pick(RUN, 4, "m2", "m1", "a", comment="=HYPERLINK()", reviewer="ana")
    header, row = store.export_rows(RUN)
    assert header == ["row", "kind", "model", "other", "value", "comment", "reviewer", "created"]
    assert row[:7] == [5, "pair", "m1", "m2", "b", "=HYPERLINK()", "ana"]
    assert row[7].endswith("+00:00") and len(row[7]) == 25 and review.created > 0
    assert '"\'=HYPERLINK()"' in csv_text([header, row])  # written with safe_csv, the formula is only text


def test_count_in_arena_records_a_pick_as_a_review_vote_once_per_reviewer(tmp_path):
    path = tmp_path / "llm_demo.sqlite3"
    arena, store = Arena(path), ReviewStore(path)
    count_in_arena(arena, store.add_pick(RUN, 0, "m2", "m1", "a", reviewer="ana"), "Why is the sky blue?")
    count_in_arena(arena, store.add_pick(RUN, 0, "m1", "m3", "tie", reviewer="ana"), "Why is the sky blue?")
    assert arena.votes(source="review") == [Vote("m1", "m2", "right"), Vote("m1", "m3", "tie")]
    count_in_arena(arena, store.add_pick(RUN, 0, "m1", "m2", "a", reviewer="ana"), "Why is the sky blue?")
    count_in_arena(arena, store.add_pick(RUN, 0, "m1", "m2", "a", reviewer="bo"), "Why is the sky blue?")
    assert sorted((v.left, v.right, v.outcome) for v in arena.votes(source="review")) == [
        ("m1", "m2", "left"),  # ana changed her mind: her vote moved
        ("m1", "m2", "left"),  # bo's own vote
        ("m1", "m3", "tie"),
    ]
    assert arena.votes(source="arena") == []
    with pytest.raises(ValueError, match="'grade'"):
        count_in_arena(arena, store.add_grade(RUN, 0, "m1", "4"), "Why is the sky blue?")


def test_kappa_matches_the_hand_computed_value_and_sklearn():
    # human, judge over ten picks: a/a ×4, b/b ×2, tie/tie ×1, a/b, b/tie, tie/a
    table = [("a", "a")] * 4 + [("b", "b")] * 2 + [("tie", "tie"), ("a", "b"), ("b", "tie"), ("tie", "a")]
    reviews = [pick(row, human) for row, (human, _) in enumerate(table)]
    judge = {(row, "m1", "m2"): verdict for row, (_, verdict) in enumerate(table)}
    # p_o = 7/10 agree; marginals: people a 5, b 3, tie 2; the judge a 5, b 3, tie 2
    p_o = 7 / 10
    p_e = (5 * 5 + 3 * 3 + 2 * 2) / 10**2  # = 0.38
    by_hand = (p_o - p_e) / (1 - p_e)  # = 0.32 / 0.62 = 16/31
    found = agreement(reviews, judge, {})
    assert by_hand == pytest.approx(16 / 31)
    assert found.kappa == pytest.approx(by_hand, abs=1e-12)
    assert found.kappa == pytest.approx(cohen_kappa_score(*zip(*table, strict=True)), abs=1e-12)
    assert (found.pairs, found.pair_agreement, found.grades, found.spearman) == (10, 0.7, 0, None)


def test_spearman_matches_scipy_with_thumbs_as_one_and_zero():
    humans = ["5", "4", "4", "2", "1", "3", "up", "down"]
    scores = [9.0, 7.5, 8.0, 3.0, 2.0, 6.0, 7.0, 4.0]
    reviews = [grade(row, "m1", value) for row, value in enumerate(humans)]
    judge = {(row, "m1"): score for row, score in enumerate(scores)}
    judge[(99, "m1")] = 5.0  # graded by the judge only: left out
    found = agreement(reviews + [grade(100, "m1", "3")], {}, judge)  # graded by a person only: left out
    expected = spearmanr([5, 4, 4, 2, 1, 3, 1, 0], scores).statistic
    assert found.grades == 8 and found.spearman == pytest.approx(expected, abs=1e-12)
    assert found.pairs == 0 and found.pair_agreement is None and found.kappa is None


def test_several_reviewers_of_one_row_each_count_once():
    reviews = [pick(0, "a", "ana"), pick(0, "b", "bo"), pick(0, "a", "cy"), pick(1, "tie", "ana")]
    found = agreement(reviews, {(0, "m1", "m2"): "a", (1, "m1", "m2"): "tie", (2, "m1", "m2"): "b"}, {})
    assert (found.pairs, found.pair_agreement) == (4, 0.75)
    assert found.kappa is None  # fewer than MIN_REVIEWS verdicts


def test_kappa_and_spearman_are_none_where_undefined():
    one_class = [pick(row, "a") for row in range(MIN_REVIEWS + 1)]
    found = agreement(one_class, {(row, "m1", "m2"): "a" for row in range(MIN_REVIEWS + 1)}, {})
    assert (found.pair_agreement, found.kappa) == (1.0, None)  # p_e = 1: kappa would be 0/0
    judge_differs = {(row, "m1", "m2"): "a" if row else "b" for row in range(MIN_REVIEWS + 1)}
    assert agreement(one_class, judge_differs, {}).kappa == pytest.approx(0.0)  # defined: people never vary
    constant = [grade(row, "m1", "4") for row in range(MIN_REVIEWS)]
    assert agreement(constant, {}, {(row, "m1"): float(row) for row in range(MIN_REVIEWS)}).spearman is None
    varied = [grade(row, "m1", str(row + 1)) for row in range(MIN_REVIEWS)]
    assert agreement(varied, {}, {(row, "m1"): 7.0 for row in range(MIN_REVIEWS)}).spearman is None
    assert agreement(varied[:-1], {}, {(row, "m1"): float(row) for row in range(4)}).spearman is None  # 4 < 5
    assert agreement(varied, {}, {(row, "m1"): float(row) for row in range(MIN_REVIEWS)}).spearman == pytest.approx(1.0)
