"""`clientwatch train` end to end on a small slice of the committed corpus: every figure the
card records is produced, the blind set is scored but never trained on, and the card is written."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from clientwatch.modelcard import END, START, render, update_card
from clientwatch.tone import MODELS_DIR
from clientwatch.training import (EVAL_DIR, Trainer, load_corpus, load_jsonl, near_duplicates,
                                  recall_at_precision, tune_abusive_threshold)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[str], Path]:
    examples, digest = load_corpus()
    per_stratum: dict[tuple[str, str], list] = defaultdict(list)
    for e in examples:
        if len(per_stratum[(e.lang, e.label)]) < 12:
            per_stratum[(e.lang, e.label)].append(e)
    subset = [e for group in per_stratum.values() for e in group]
    eval_dir = tmp_path_factory.mktemp("eval")
    rows = [json.loads(line) for line in (EVAL_DIR / "de.jsonl").read_text(encoding="utf-8").splitlines()[:24]]
    (eval_dir / "de.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    printed: list[str] = []
    model, meta = Trainer(subset, digest, echo=printed.append, eval_dir=eval_dir).run()
    assert model.predict(["You absolute idiot."])[0].label in model.labels
    return meta, printed, eval_dir


def test_figures_and_blind_set(small_run: tuple[dict, list[str], Path]) -> None:
    meta, printed, _ = small_run
    text = "\n".join(printed)
    assert "held-out split" in text and "blind set (24 messages in 1 files" in text
    blind = meta["blind"]
    assert blind["overall"]["n"] == 24
    assert blind["halves"]["dev"]["n"] + blind["halves"]["test"]["n"] == 24
    assert set(blind["per_language"]) == {"de"}
    assert 0.15 <= meta["abusive_threshold"] <= 0.95
    assert meta["sentence_weight"] < 1.0
    assert len(meta["calibration"]["coef"]) == len(meta["labels"])
    assert meta["calibration"]["inputs"] == "message+worst-sentence+label-scorers"
    # the message's four, its worst sentence, each label's scorer, the abusive scorer's worst sentence
    assert all(len(row) == 2 * len(meta["labels"]) + 2 for row in meta["calibration"]["coef"])
    assert 0.0 <= meta["held_out"]["calibration_error"] <= 1.0
    assert set(meta["held_out"]["english_recall_at_precision"]) == {"threshold", "recall", "precision"}
    pooled = meta["cross_validation"]["pooled_per_language"]
    # pooled out-of-fold: every message of the subset scored exactly once
    assert sum(m["n"] for m in pooled.values()) == meta["corpus_size"]
    assert set(pooled) == {"de", "en", "es", "hr", "ko", "te"}
    en = pooled["en"]["macro_f1"]
    assert f"en macro-F1 {en:.3f}" in text


def test_card_gets_the_printed_figures(small_run: tuple[dict, list[str], Path], tmp_path: Path) -> None:
    meta, printed, _ = small_run
    card = tmp_path / "CARD.md"
    card.write_text(f"# card\nintro\n{START}\nSTALE-FIGURES\n{END}\ntail\n", encoding="utf-8")
    update_card(card, meta)
    body = card.read_text(encoding="utf-8")
    assert body.startswith("# card\nintro\n") and body.endswith("tail\n") and "STALE-FIGURES" not in body
    assert "### Blind set" in body and "| test |" in body
    macro = meta["held_out"]["overall"]["macro_f1"]
    assert f"macro-F1 {macro:.3f}" in body and f"macro-F1 {macro:.3f}" in "\n".join(printed)
    assert render(meta) in body
    best = meta["cross_validation"]["pooled_english_recall_at_precision"]
    assert f"over the pooled predictions (threshold {best['threshold']}" in body


def test_no_blind_set_is_reported_not_invented(tmp_path: Path) -> None:
    trainer = Trainer.__new__(Trainer)
    trainer.eval_dir, printed = tmp_path, []
    trainer.echo = printed.append
    assert trainer._blind(None, 0.5) is None
    assert "skipped" in printed[0]


def test_threshold_and_recall_at_precision() -> None:
    classes = ["abusive", "neutral"]
    y = ["abusive"] * 10 + ["neutral"] * 10
    scores = np.r_[np.linspace(0.9, 0.3, 10), np.linspace(0.35, 0.0, 10)]
    probs = np.c_[scores, 1 - scores]
    t = tune_abusive_threshold(y, probs, classes, min_precision=0.9)
    pred = scores >= t
    assert (pred[:10].sum() / pred.sum()) >= 0.9
    best = recall_at_precision(y, scores, 0.9)
    assert best["precision"] >= 0.9 and best["recall"] >= pred[:10].mean()


def test_second_annotation_refers_to_the_corpus() -> None:
    """models/audit records a second, blind annotation: every record must still name a corpus
    message and carry a valid label, or the agreement figures in the card cannot be recomputed."""
    gold = {e.id: e.label for e in load_corpus()[0]}
    rows = load_jsonl(MODELS_DIR / "audit" / "second-labels.jsonl", required=("id", "corpus_label", "model_label", "kind", "second_label", "unsure", "why"))
    assert len(rows) == len({r["id"] for r in rows}) > 0
    for r in rows:
        assert r["id"] in gold, r["id"]
        assert {r["second_label"], r["model_label"]} <= set(gold.values())
        assert r["kind"] in ("control", "model error")
        assert (r["kind"] == "control") == (r["model_label"] == r["corpus_label"])


@pytest.mark.parametrize("name", ["short-replies.jsonl", "phrasing-contempt.jsonl"])
def test_check_sets_are_not_in_the_corpus(name: str) -> None:
    """models/checks/ measures the model on messages it never trained on (terse replies,
    contempt by phrasing alone): no record may be a near-duplicate of a corpus text (the check
    train uses between its splits), and every label must be one the model knows."""
    rows = load_jsonl(MODELS_DIR / "checks" / name, required=("id", "label", "text"))
    assert len(rows) == len({r["id"] for r in rows}) > 0
    assert {r["label"] for r in rows} == {"neutral", "abusive"}
    assert near_duplicates([e.text for e in load_corpus()[0]], [r["text"] for r in rows])["count"] == 0
