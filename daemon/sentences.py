"""Sentence-level scoring: one abusive line makes a message abusive.

A bag-of-n-grams model reads a long, businesslike email with one insult in it as mostly
businesslike: the insult's features are diluted by everything around it. The label rules
say one abusive line is enough (``models/LABELING.md``, rule 1), so the tone model also
scores each sentence of a message with the same fitted pipeline. A stacked calibration,
fitted out-of-fold, maps the message's probabilities and its worst sentence's abusive
probability (and, where the classifier has them, its per-label scorers': see
``classifier.py``) to the label, so how much one sentence counts is learnt. (Without one, a fixed
mix is used: ``combine``.) Sentences are a partition of the text at whitespace, so each
vectorizer can count a message as the sum of its sentences and the words are tokenised
once for both levels (``transform_segmented``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np
import scipy.sparse as sp

# whitespace after a sentence end becomes a line break, then lines split; cutting only at
# whitespace keeps every word whole, so the sentences' words are exactly the message's words
_END = re.compile(r"(?<=[.!?。！？])\s+")
MIN_WORDS = 4  # a shorter sentence ("Thanks!", "Hi Ana,") is too short to judge alone
_WORDS = re.compile(r"\w+|\x00")  # scikit-learn's word tokens (\b\w+\b is \w+), \x00 between sentences


@dataclass(frozen=True)
class Segmented:
    """Messages cut into sentences: ``texts[k]`` belongs to message ``owner[k]``."""

    docs: Sequence[str]
    texts: list[str]
    owner: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def joined(self) -> str:
        """The sentences in one string, each followed by "\x00" (a NUL in a message reads as a space)."""
        if "joined" not in self._cache:
            self._cache["joined"] = "\x00".join(t.replace("\x00", " ") for t in self.texts) + "\x00"
        return self._cache["joined"]

    def lower_tokens(self) -> list[str]:
        """The lower-case word tokens of all sentences in one scan, "\x00" closing each sentence:
        shared by the word n-grams and the lexicon, so the batch is tokenised once."""
        if "tokens" not in self._cache:
            self._cache["tokens"] = _WORDS.findall(self.joined().lower())
        return self._cache["tokens"]

    def summing(self) -> sp.csr_matrix:
        """The (messages × sentences) 0/1 matrix that adds sentence rows into message rows."""
        n = len(self.texts)
        return sp.csr_matrix((np.ones(n, dtype=np.float32), (self.owner, np.arange(n))), shape=(len(self.docs), n))


def split_sentences(text: str) -> list[str]:
    """The sentences and lines of ``text`` (none empty); a text with no words gives []."""
    return [s for s in map(str.strip, _END.sub("\n", text).split("\n")) if s]


def segment(docs: Sequence[str]) -> Segmented:
    """Cut a batch of messages into sentences, remembering which message each came from."""
    texts: list[str] = []
    owner: list[int] = []
    for i, doc in enumerate(docs):
        parts = split_sentences(doc)
        texts += parts
        owner += [i] * len(parts)
    return Segmented(docs, texts, np.array(owner, dtype=np.int64))


def feature_blocks(union: Any, seg: Segmented) -> tuple[list[sp.csr_matrix], list[sp.csr_matrix]]:
    """The FeatureUnion's features of the messages and of their sentences, one matrix per
    transformer in the union's column order, in one pass where a transformer supports it
    (``transform_segmented``), else by two transforms."""
    docs_parts, sent_parts = [], []
    for name, transformer in union.transformer_list:
        if transformer == "drop" or transformer is None:
            continue
        if hasattr(transformer, "transform_segmented"):
            d, s = transformer.transform_segmented(seg)
        else:
            d, s = transformer.transform(list(seg.docs)), transformer.transform(seg.texts)
        weight = (union.transformer_weights or {}).get(name)
        if weight is not None:
            d, s = d * weight, s * weight
        docs_parts.append(sp.csr_matrix(d))
        sent_parts.append(sp.csr_matrix(s))
    return docs_parts, sent_parts


def predict_proba(pipeline: Any, docs: Sequence[str], weight: float,
                  calibration: dict[str, Any] | None = None) -> np.ndarray:
    """Per-label probabilities of each message, the abusive one raised by its most abusive
    sentence, then calibrated. With a stacked calibration (``fit_calibration``) the weight of
    the worst sentence is learnt; without one, ``weight`` mixes it in (1: the message alone)."""
    docs = list(docs)
    if not docs or (weight >= 1.0 and not calibration):
        return pipeline.predict_proba(docs)
    parts = predict_parts(pipeline, docs)
    if calibration:
        return calibrate(parts.inputs(), calibration)
    return combine(parts.doc_probs, parts.worst, parts.classes, weight)


class Parts(NamedTuple):
    """What the stacked calibration reads of a batch of messages."""

    doc_probs: np.ndarray  # the message-level probabilities, one column per label
    worst: np.ndarray  # the worst abusive probability: the message's own or its worst sentence's
    classes: list[str]  # the label of each column of ``doc_probs``
    scorer: np.ndarray | None  # if the model has scorers: each label's for the message, then the abusive one's worst sentence

    def inputs(self) -> np.ndarray:
        """The stacked calibration's inputs (``stack_inputs``)."""
        return stack_inputs(self.doc_probs, self.worst, self.scorer)


def predict_parts(pipeline: Any, docs: Sequence[str]) -> Parts:
    """Score a batch at both levels: every message, and every sentence of ``MIN_WORDS`` words
    or more of a message of two or more such sentences; a message's worst score is the highest
    of its own and its sentences'."""
    union, clf = pipeline.named_steps["features"], pipeline.named_steps["clf"]
    classes = list(clf.classes_)
    seg = segment(docs)
    doc_blocks, sent_blocks = feature_blocks(union, seg)
    # words counted by their spaces (sentences are stripped): cheap, and exact enough here
    judged = np.fromiter((t.count(" ") >= MIN_WORDS - 1 for t in seg.texts), dtype=bool, count=len(seg.texts))
    # a message of one sentence is already judged whole
    counts = np.bincount(seg.owner[judged], minlength=len(docs))
    judged &= counts[seg.owner] >= 2
    owner = seg.owner[judged]
    sent_blocks = [block[judged] for block in sent_blocks]
    doc_scores = sent_scores = None
    if hasattr(clf, "predict_blocks"):  # clientwatch.classifier.ToneClassifier: labels and per-label scorers
        # block by block: no copy of the features into one matrix
        doc_probs, doc_scores = clf.predict_blocks(doc_blocks)
        sent_probs, sent_scores = clf.predict_blocks(sent_blocks)
    else:
        doc_probs = clf.predict_proba(sp.hstack(doc_blocks, format="csr"))
        sent_probs = clf.predict_proba(sp.hstack(sent_blocks, format="csr")) if len(owner) else doc_probs[:0]

    def worst_of(doc_column: np.ndarray, sent_column: np.ndarray) -> np.ndarray:
        out = doc_column.copy()
        if len(owner):
            np.maximum.at(out, owner, sent_column)
        return out

    a = classes.index("abusive")
    scorer = None
    if doc_scores is not None and sent_scores is not None:
        scorer = np.c_[doc_scores, worst_of(doc_scores[:, a], sent_scores[:, a])]
    return Parts(doc_probs, worst_of(doc_probs[:, a], sent_probs[:, a]), classes, scorer)


def combine(doc_probs: np.ndarray, worst: np.ndarray, classes: list[str], weight: float) -> np.ndarray:
    """Raise each message's abusive probability towards its worst sentence's by a fixed
    ``weight``; the other labels keep their proportions and share the rest."""
    a = classes.index("abusive")
    p_abusive = weight * doc_probs[:, a] + (1.0 - weight) * worst
    rest = np.delete(doc_probs, a, axis=1)
    total = rest.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return np.insert(rest / total * (1.0 - p_abusive)[:, None], a, p_abusive, axis=1)


STACKED = "message+worst-sentence"
STACKED_SCORERS = "message+worst-sentence+label-scorers"
KINDS = (STACKED, STACKED_SCORERS)


def _width(kind: str, n_classes: int) -> int:
    """How many inputs a calibration of ``kind`` reads (``stack_inputs``' columns)."""
    return n_classes + 1 + (n_classes + 1 if kind == STACKED_SCORERS else 0)


def stack_inputs(doc_probs: np.ndarray, worst: np.ndarray, scorer: np.ndarray | None = None) -> np.ndarray:
    """The stacked calibrator's inputs: the log-probabilities of the message, of the worst
    sentence and, when the model has per-label scorers, of their scores (``Parts.scorer``)."""
    columns = [doc_probs, worst[:, None]] + ([] if scorer is None else [scorer])
    return np.log(np.clip(np.hstack(columns), 1e-6, 1.0))


def fit_calibration(inputs: np.ndarray, labels: Sequence[str], classes: list[str]) -> dict[str, Any]:
    """A multinomial logistic regression from ``stack_inputs`` to the label, fitted on
    out-of-fold predictions: it learns how much one abusive-looking sentence should count,
    and maps the scores to observed frequencies. Kept as plain numbers (JSON-safe), applied
    by ``calibrate``."""
    from sklearn.linear_model import LogisticRegression

    from .classifier import softmax_rows

    fit = LogisticRegression(C=100.0, max_iter=2000).fit(inputs, list(labels))
    coef, intercept = softmax_rows(fit)
    order = [list(fit.classes_).index(c) for c in classes]
    kind = STACKED_SCORERS if inputs.shape[1] == _width(STACKED_SCORERS, len(classes)) else STACKED
    return {"inputs": kind, "classes": classes,
            "coef": coef[order].round(6).tolist(), "intercept": intercept[order].round(6).tolist()}


def calibrate(inputs: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Apply ``fit_calibration``'s mapping to ``stack_inputs``: per-label probabilities."""
    kind = calibration.get("inputs")
    if kind not in KINDS:
        raise ValueError(f"unknown calibration inputs {kind!r}")
    width = _width(kind, len(calibration["classes"]))
    if inputs.shape[1] != width:
        raise ValueError(f"calibration {kind!r} reads {width} inputs, got {inputs.shape[1]}")
    if not len(inputs):
        return np.zeros((0, len(calibration["classes"])))
    z = inputs @ np.asarray(calibration["coef"]).T + np.asarray(calibration["intercept"])
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
