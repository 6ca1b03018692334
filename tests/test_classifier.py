"""The tone classifier: its four-label probabilities are the logistic regression's, and its
NB-weighted label scorers pick out a label's rare feature that a long message dilutes."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from clientwatch.classifier import ToneClassifier, log_count_ratio

LABELS = np.array(["abusive", "controlling", "stalling", "neutral"])


def _mail(n: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows of many common features (4 to 59); an abusive row also has feature 0, and each
    other label one of its own (1 to 3)."""
    rng = np.random.default_rng(seed)
    y = LABELS[rng.integers(0, 4, n)]
    x = (rng.random((n, 60)) < 0.3) * rng.uniform(0.1, 1.0, (n, 60))
    x[:, :4] = 0.0
    for k, label in enumerate(LABELS):
        x[y == label, k] = rng.uniform(0.5, 1.0, int((y == label).sum()))
    return sp.csr_matrix(x.astype(np.float32)), y


def test_label_probabilities_are_the_logistic_regressions() -> None:
    x, y = _mail(400, 0)
    clf = ToneClassifier(random_state=0).fit(x, y)
    probs, scores = clf.predict_both(x)
    assert list(clf.classes_) == sorted(LABELS)
    assert np.allclose(probs, clf.lr_.predict_proba(x), atol=1e-6)
    assert np.allclose(clf.predict_proba(x), probs)
    assert (clf.predict(x) == clf.classes_[probs.argmax(axis=1)]).all()
    assert scores.shape == (400, 4) and ((scores > 0) & (scores < 1)).all()
    assert clf.scorer_coef_.dtype == np.float32 and clf.scorer_coef_.shape == (4, 60)


def test_each_scorer_separates_its_label_in_rows_it_never_saw() -> None:
    x, y = _mail(600, 1)
    clf = ToneClassifier(random_state=0).fit(x, y)
    x_new, y_new = _mail(300, 2)
    _, scores = clf.predict_both(x_new)
    for k, label in enumerate(clf.classes_):
        mine = y_new == label
        assert scores[mine, k].min() > scores[~mine, k].max(), label


def test_two_labels() -> None:
    x, y = _mail(300, 5)
    two = np.where(y == "abusive", "abusive", "neutral")
    clf = ToneClassifier(random_state=0).fit(x, two)
    probs, scores = clf.predict_both(x)
    assert np.allclose(probs, clf.lr_.predict_proba(x), atol=1e-6)
    assert scores.shape == (300, 2)


def test_ratio_favours_features_of_the_positive_rows() -> None:
    x = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]], dtype=np.float32))
    ratio = log_count_ratio(x, np.array([True, True, False, False]), alpha=0.1)
    assert ratio[0] > 0 > ratio[1]
    assert ratio[2] == pytest.approx(0.0, abs=1e-6)  # in every row alike: no evidence either way


def test_pickle_round_trip_keeps_scores_and_drops_the_cache() -> None:
    x, y = _mail(300, 3)
    clf = ToneClassifier(random_state=0).fit(x, y)
    before = clf.predict_both(x)
    state = clf.__getstate__()
    assert state["_stacked"] is None
    again = pickle.loads(pickle.dumps(clf))
    after = again.predict_both(x)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_needs_two_labels() -> None:
    x, _ = _mail(50, 4)
    with pytest.raises(ValueError, match="at least two labels"):
        ToneClassifier().fit(x, ["neutral"] * 50)


def test_blocks_of_columns_score_as_the_whole_matrix() -> None:
    x, y = _mail(300, 6)
    clf = ToneClassifier(random_state=0).fit(x, y)
    whole = clf.predict_both(x)
    parts = clf.predict_blocks([x[:, :7], x[:, 7:40], x[:, 40:]])
    assert np.allclose(whole[0], parts[0]) and np.allclose(whole[1], parts[1])
    with pytest.raises(ValueError, match="reads 60 features, the blocks hold 40"):
        clf.predict_blocks([x[:, :40]])
