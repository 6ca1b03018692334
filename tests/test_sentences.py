"""Sentence-level scoring: the split is a partition of the words, the two-level features equal
the one-level ones, and one buried insult raises a long message's abusive probability."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from clientwatch import sentences
from clientwatch.sentences import calibrate, combine, fit_calibration, segment, split_sentences, stack_inputs
from clientwatch.tone import ToneModel

BURIED = """Hi Lena,

Thanks for the revised floor plan. A few notes before Thursday:
1. The pantry door should open outwards, not into the kitchen.
2. Please move the island 20 cm towards the window.
3. Honestly, a first-year student would have spotted the stair clash, you useless amateur.
4. Can you send the lighting plan as a PDF as well?

See you Thursday at 10.
Best,
Marco"""


@pytest.mark.parametrize("text", [
    "Hi. You idiot! Thanks", "one line", "", "   \n\n ", "a.b. c? d!  e\n\nf\r\ng。h", "Sure... ok?! fine.",
    "tabs\tand\u00a0no-break spaces. next", "Re: files\nplease send them today. Thanks!"])
def test_split_keeps_every_word(text: str) -> None:
    parts = split_sentences(text)
    assert all(p and p == p.strip() for p in parts)
    assert " ".join(parts).split() == text.split()


def test_split_cuts_at_lines_and_sentence_ends() -> None:
    assert split_sentences("Hi Ana,\nThe files are late. Send them today! Why? ok") == [
        "Hi Ana,", "The files are late.", "Send them today!", "Why?", "ok"]
    assert split_sentences("v2.1 is at 3.5 MB") == ["v2.1 is at 3.5 MB"]  # no space after the dot: no cut


def test_segment_owner_and_summing() -> None:
    seg = segment(["a. b", "", "c"])
    assert seg.texts == ["a.", "b", "c"]
    assert seg.owner.tolist() == [0, 0, 2]
    assert seg.summing().toarray().tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert seg.lower_tokens() == ["a", "\x00", "b", "\x00", "c", "\x00"]


def test_two_level_features_equal_separate_transforms(tone_model_path: Path) -> None:
    union = ToneModel.load(tone_model_path).pipeline.named_steps["features"]
    docs = [BURIED, "short one", "", "ALL CAPS HERE. You idiot.\nline two", "x\x00y. z"]
    seg = segment(docs)
    doc_blocks, sent_blocks = sentences.feature_blocks(union, seg)
    assert [b.shape[1] for b in doc_blocks] == [b.shape[1] for b in sent_blocks]
    x_docs, x_sents = sp.hstack(doc_blocks, format="csr"), sp.hstack(sent_blocks, format="csr")
    assert abs(x_docs - union.transform(docs)).max() < 1e-5
    assert abs(x_sents - union.transform(seg.texts)).max() < 1e-5


def test_combine_raises_abusive_and_keeps_proportions() -> None:
    classes = ["abusive", "controlling", "neutral", "stalling"]
    doc = np.array([[0.1, 0.3, 0.6, 0.0], [0.5, 0.1, 0.3, 0.1]])
    worst = np.array([0.9, 0.5])
    out = combine(doc, worst, classes, weight=0.6)
    assert np.allclose(out.sum(axis=1), 1.0)
    assert out[0, 0] == pytest.approx(0.6 * 0.1 + 0.4 * 0.9)
    assert out[0, 1] / out[0, 2] == pytest.approx(0.3 / 0.6)  # the rest keeps its proportions
    assert out[1, 0] == pytest.approx(0.5)
    assert np.allclose(combine(doc, worst, classes, weight=1.0), doc)


def test_calibration_matches_frequencies() -> None:
    rng = np.random.default_rng(0)
    classes = ["abusive", "neutral"]
    truth = rng.random(2000) < 0.3
    raw = np.where(truth, 0.9, 0.6)  # over-confident on the abusive column
    inputs = stack_inputs(np.c_[raw, 1 - raw], raw)
    cal = fit_calibration(inputs, ["abusive" if t else "neutral" for t in truth], classes)
    out = calibrate(inputs, cal)
    assert np.allclose(out.sum(axis=1), 1.0)
    assert out[truth, 0].mean() > out[~truth, 0].mean()
    assert abs(out[:, 0].mean() - truth.mean()) < 0.02  # matches the observed frequency
    with pytest.raises(ValueError, match="unknown calibration"):
        calibrate(inputs, {**cal, "inputs": "log-probabilities"})


@pytest.mark.parametrize("telling", ["worst sentence", "abusive scorer"])
def test_stacked_calibration_learns_which_input_tells(telling: str) -> None:
    rng = np.random.default_rng(1)
    classes = ["abusive", "neutral"]
    n = 3000
    truth = rng.random(n) < 0.3
    # the message looks mild either way; only one other input tells abuse apart
    doc_abusive = rng.uniform(0.05, 0.3, n)
    doc = np.c_[doc_abusive, 1 - doc_abusive]
    told = np.where(truth, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.5, n))
    if telling == "worst sentence":
        worst, scorer, kind = told, None, sentences.STACKED
    else:  # scorer columns: abusive's, neutral's, abusive's worst sentence
        worst, scorer, kind = doc_abusive, np.c_[told, rng.uniform(0.1, 0.9, (n, 2))], sentences.STACKED_SCORERS
    inputs = stack_inputs(doc, worst, scorer)
    assert inputs.shape == (n, 3 if scorer is None else 6)
    cal = fit_calibration(inputs, ["abusive" if t else "neutral" for t in truth], classes)
    out = calibrate(inputs, cal)
    assert cal["inputs"] == kind
    assert np.allclose(out.sum(axis=1), 1.0)
    assert ((out[:, 0] >= 0.5) == truth).mean() > 0.95  # the message alone would be near chance
    if scorer is not None:
        with pytest.raises(ValueError, match="reads 6 inputs, got 3"):
            calibrate(stack_inputs(doc, worst), cal)


def test_buried_insult_is_found(tone_model_path: Path) -> None:
    model = ToneModel.load(tone_model_path)
    whole = model.predict([BURIED])[0]
    # the clean twin drops the whole line: "a first-year student would have spotted…" is itself
    # contempt by comparison under the label rules, which the corpus now teaches
    clean = model.predict([BURIED.replace(
        "Honestly, a first-year student would have spotted the stair clash, you useless amateur.",
        "The stair clashes with the beam on the section, please check it.")])[0]
    assert whole.label == "abusive"
    assert whole.scores["abusive"] > clean.scores["abusive"] + 0.3
    assert clean.label != "abusive"
    # without sentence scoring the same model misses it (the reason for the sentence pass)
    doc_only = ToneModel(model.pipeline, {**model.meta, "sentence_weight": 1.0, "calibration": None})
    assert doc_only.predict([BURIED])[0].scores["abusive"] < whole.scores["abusive"]


def test_parts_of_a_model_with_a_scorer(tone_model_path: Path) -> None:
    model = ToneModel.load(tone_model_path)
    parts = sentences.predict_parts(model.pipeline, [BURIED, "Thanks, invoice paid today."])
    a = parts.classes.index("abusive")
    assert parts.scorer is not None and parts.scorer.shape == (2, len(parts.classes) + 1)
    # the abusive scorer's worst sentence is at least the message's own, and the buried insult raises it
    assert (parts.scorer[:, -1] >= parts.scorer[:, a]).all()
    assert parts.scorer[0, -1] > 0.5 > parts.scorer[1, -1]
    assert parts.scorer[1, parts.classes.index("neutral")] > 0.5
    assert parts.worst[0] >= parts.doc_probs[0, parts.classes.index("abusive")]


def test_a_plain_classifier_is_stacked_without_a_scorer() -> None:
    """A model of the fifth round (a LogisticRegression, no abusive scorer) keeps working."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    from clientwatch.features import FastTfidfVectorizer

    docs = ["you useless idiot, redo it", "thanks, the invoice is paid", "send me every draft before it goes out",
            "we will pay once the board meets next quarter"] * 5
    labels = ["abusive", "neutral", "controlling", "stalling"] * 5
    pipe = Pipeline([("features", FeatureUnion([("word", FastTfidfVectorizer())])),
                     ("clf", LogisticRegression(C=10))]).fit(docs, labels)
    parts = sentences.predict_parts(pipe, [BURIED, docs[1]])
    assert parts.scorer is None
    inputs = stack_inputs(parts.doc_probs, parts.worst, parts.scorer)
    cal = fit_calibration(np.vstack([inputs] * 4), ["abusive", "neutral", "controlling", "stalling"] * 2, parts.classes)
    assert cal["inputs"] == sentences.STACKED
    out = sentences.predict_proba(pipe, [BURIED, docs[1]], 0.6, cal)
    assert out.shape == (2, 4) and np.allclose(out.sum(axis=1), 1.0)
