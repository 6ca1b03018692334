"""FastTfidfVectorizer must produce exactly scikit-learn's TF-IDF matrix, only faster."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from clientwatch.features import FastTfidfVectorizer
from clientwatch.text import client_text
from clientwatch.training import load_corpus


@pytest.fixture(scope="module")
def texts() -> list[str]:
    examples, _ = load_corpus()
    return [client_text(e.subject, e.text) for e in examples[::3]] + ["", "   ", "a", "x y z", "ŽŠĐ 한국어 తెలుగు"]


@pytest.mark.parametrize("params", [
    dict(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=50000),
    dict(analyzer="char_wb", ngram_range=(1, 3)),
    dict(analyzer="word", ngram_range=(1, 2), min_df=2, max_df=0.5, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),
    # a small vocabulary keeps bigrams whose words were pruned as unigrams
    dict(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", max_features=300, lowercase=False),
    dict(analyzer="word", ngram_range=(1, 1), token_pattern=r"(?u)\b\w+\b"),
    dict(analyzer="word", ngram_range=(1, 1)),
    dict(analyzer="word", ngram_range=(1, 3)),
])
def test_same_matrix_as_scikit_learn(texts: list[str], params: dict) -> None:
    half = len(texts) // 2
    reference = TfidfVectorizer(dtype=np.float32, **params).fit(texts[:half])
    fast = FastTfidfVectorizer(dtype=np.float32, **params).fit(texts[:half])
    for batch in (texts[half:], texts[half:half + 1], texts[-5:]):
        expected, got = reference.transform(batch), fast.transform(batch)
        assert got.shape == expected.shape
        assert abs(expected - got).max() < 1e-6
    # a second call (warm word cache) gives the same answer
    assert abs(reference.transform(texts[half:]) - fast.transform(texts[half:])).max() < 1e-6


def test_empty_batch_and_pickle_without_cache(texts: list[str]) -> None:
    import pickle

    fast = FastTfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(texts)
    assert fast.transform([]).shape == (0, len(fast.vocabulary_))
    fast.transform(texts[:20])
    assert fast.__dict__.get("_gram_store")
    clone = pickle.loads(pickle.dumps(fast))
    assert "_gram_store" not in clone.__dict__
    assert abs(clone.transform(texts[:20]) - fast.transform(texts[:20])).max() < 1e-6


def test_vocabulary_survives_the_compact_pickle(texts: list[str]) -> None:
    import pickle

    fast = FastTfidfVectorizer(analyzer="word", ngram_range=(1, 2)).fit(texts)
    state = fast.__getstate__()
    assert "vocabulary_" not in state and isinstance(state["_vocabulary_terms"], str)
    clone = pickle.loads(pickle.dumps(fast))
    assert clone.vocabulary_ == fast.vocabulary_


@pytest.mark.parametrize("params", [
    dict(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True),
    dict(analyzer="word", ngram_range=(1, 2), min_df=2, max_df=0.5, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),
    dict(analyzer="word", ngram_range=(1, 1)),  # the general path
])
def test_segmented_transform_equals_two_transforms(texts: list[str], params: dict) -> None:
    from clientwatch.sentences import segment

    fast = FastTfidfVectorizer(dtype=np.float32, **params).fit(texts)
    docs = texts[:200] + ["", "Hi. You idiot! Thanks", "a\x00b. c", "x\n\ny z."]
    seg = segment(docs)
    per_doc, per_sentence = fast.transform_segmented(seg)
    assert abs(per_doc - fast.transform(docs)).max() < 1e-6
    assert abs(per_sentence - fast.transform(seg.texts)).max() < 1e-6
