"""The readable summaries of a confusion matrix: the most confused pairs and per-class recall, worst first."""

from __future__ import annotations

import numpy as np
import pytest

from fruits.web.confusions import confused_pairs, recall_by_class

CLASSES = ("apple", "lemon", "lime", "pear")
# rows: true class, columns: predicted
MATRIX = np.array([
    [8, 0, 0, 2],  # apple: 2 taken for pear
    [0, 5, 5, 0],  # lemon: 5 taken for lime
    [0, 1, 9, 0],  # lime: 1 taken for lemon
    [0, 0, 0, 0],  # pear: no evaluated photo
])


def test_pairs_are_the_off_diagonal_cells_most_photos_first():
    pairs = confused_pairs(CLASSES, MATRIX)
    assert [(p.true, p.predicted, p.count) for p in pairs] == [("lemon", "lime", 5), ("apple", "pear", 2),
                                                                ("lime", "lemon", 1)]
    assert pairs[0].share == pytest.approx(0.5) and pairs[1].share == pytest.approx(0.2)
    assert sum(p.count for p in confused_pairs(CLASSES, MATRIX, limit=None)) == MATRIX.sum() - np.trace(MATRIX)
    assert len(confused_pairs(CLASSES, MATRIX, limit=1)) == 1


def test_equal_counts_are_ordered_by_share_then_name():
    matrix = np.array([[1, 1, 0], [2, 0, 2], [0, 0, 0]])
    pairs = confused_pairs(("a", "b", "c"), matrix)
    # b->a and b->c: same count, same share (2 of 4), so by name; a->b has fewer photos
    assert [(p.true, p.predicted) for p in pairs] == [("b", "a"), ("b", "c"), ("a", "b")]


def test_recall_worst_first_and_unevaluated_classes_last():
    rows = recall_by_class(CLASSES, MATRIX)
    assert [r.name for r in rows] == ["lemon", "apple", "lime", "pear"]
    lemon, apple, lime, pear = rows
    assert (lemon.n, lemon.n_correct, lemon.recall, lemon.taken_for) == (10, 5, 0.5, "lime")
    assert apple.recall == pytest.approx(0.8) and apple.taken_for == "pear"
    assert (pear.n, pear.recall, pear.taken_for) == (0, None, None)


def test_a_perfect_matrix_has_no_pairs_and_full_recall():
    matrix = np.diag([3, 4, 5])
    assert confused_pairs(("a", "b", "c"), matrix) == []
    assert [(r.recall, r.taken_for) for r in recall_by_class(("a", "b", "c"), matrix)] == [(1.0, None)] * 3


@pytest.mark.parametrize("matrix", [np.zeros((3, 3)), np.zeros((4, 3)), np.zeros(4), -np.eye(4)])
def test_a_matrix_that_does_not_match_the_classes_is_refused(matrix):
    with pytest.raises(ValueError):
        confused_pairs(CLASSES, matrix)
    with pytest.raises(ValueError):
        recall_by_class(CLASSES, matrix)
