"""The tone model: loading checks, the Python API, and the classify / evaluate commands."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import joblib
import pytest

from clientwatch.cli import main
from clientwatch.errors import ModelError
from clientwatch.tone import LABELS, ToneModel


def test_predict_returns_label_and_probabilities(tone_model_path: Path) -> None:
    model = ToneModel.load(tone_model_path)
    tones = model.predict([
        "Are you actually this incompetent or is it deliberate? A child could have done better.",
        "Before anything goes live, even a single reply to a comment, send it to me for approval first.",
        "Keep working on phase two, we'll pay everything at the end once the site is live.",
        "Thanks for the drafts, we like option B. Invoice paid this morning.",
    ])
    assert [t.label for t in tones] == ["abusive", "controlling", "stalling", "neutral"]
    for t in tones:
        assert set(t.scores) == set(LABELS)
        assert abs(sum(t.scores.values()) - 1) < 0.01


def test_quoted_abuse_does_not_make_a_reply_abusive(tone_model_path: Path) -> None:
    model = ToneModel.load(tone_model_path)
    body = ("Thanks, paid today - remittance attached.\n\nOn Tue, 3 Mar 2026 at 10:12, Rick <rick@x.example> wrote:\n"
            "> You are a useless idiot and I'll ruin your reputation")
    assert model.predict([body])[0].label == "neutral"


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="clientwatch train"):
        ToneModel.load(tmp_path / "none.joblib")


def test_group_writable_model_is_refused(tone_model_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tone.joblib"
    shutil.copy(tone_model_path, copy)
    os.chmod(copy, 0o664)
    with pytest.raises(ModelError, match="group or others can write"):
        ToneModel.load(copy)


def test_sklearn_version_mismatch_is_refused(tone_model_path: Path, tmp_path: Path) -> None:
    blob = joblib.load(tone_model_path)
    blob["meta"]["sklearn_version"] = "0.0.1"
    target = tmp_path / "old.joblib"
    joblib.dump(blob, target)
    os.chmod(target, 0o644)
    with pytest.raises(ModelError, match="scikit-learn 0.0.1.*clientwatch train"):
        ToneModel.load(target)


def test_corrupt_model_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "bad.joblib"
    target.write_bytes(b"\x80\x04 this is not a pickle")
    os.chmod(target, 0o644)
    with pytest.raises(ModelError, match="damaged"):
        ToneModel.load(target)


def test_cli_model_errors_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CLIENTWATCH_MODEL", str(tmp_path / "missing.joblib"))
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": 1, "subject": "", "text": "hi"}\n')
    assert main(["classify", str(data)]) == 3
    assert "clientwatch train" in capsys.readouterr().err


def test_cli_classify_and_evaluate(tone_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CLIENTWATCH_MODEL", str(tone_model_path))
    rows = [{"id": "a", "label": "abusive", "subject": "Re: logo", "text": "You useless clown, a child could do better."},
            {"id": "b", "label": "neutral", "subject": "", "text": "Thanks, looks great. Approved!"}]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["classify", str(data)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert [o["label"] for o in out] == ["abusive", "neutral"]
    assert set(out[0]["scores"]) == set(LABELS)
    assert main(["evaluate", str(data), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["macro_f1"] == 1.0 and result["confusion"]["labels"] == list(LABELS)
    assert main(["evaluate", str(data)]) == 0
    assert "macro-F1 1.000" in capsys.readouterr().out


def test_evaluate_rejects_bad_input(tone_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CLIENTWATCH_MODEL", str(tone_model_path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"label": "rude", "text": "x"}\n')
    assert main(["evaluate", str(bad)]) == 2
    assert "unknown label 'rude'" in capsys.readouterr().err
    bad.write_text("not json\n")
    assert main(["evaluate", str(bad)]) == 2
    assert f"{bad}:1" in capsys.readouterr().err


def test_unknown_calibration_is_refused(tone_model_path: Path, tmp_path: Path) -> None:
    blob = joblib.load(tone_model_path)
    blob["meta"]["calibration"] = {"inputs": "log-probabilities", "coef": [], "intercept": []}
    target = tmp_path / "tone.joblib"
    joblib.dump(blob, target)
    target.chmod(0o644)
    with pytest.raises(ModelError, match="calibration.*clientwatch train"):
        ToneModel.load(target)
