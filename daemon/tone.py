"""The tone model: load, check and apply the trained scikit-learn pipeline.

The joblib file holds ``{"pipeline": Pipeline, "meta": {...}}``. joblib files are pickles,
so loading refuses a file that group or others can write, and checks the metadata: a
missing file, a corrupt one or one saved by another scikit-learn is a ``ModelError``
(exit 3) that says to run ``clientwatch train``.
"""
from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import ModelError
from .records import Tone
from .text import client_text

log = logging.getLogger(__name__)

LABELS = ("abusive", "controlling", "stalling", "neutral")
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def default_model_path() -> Path:
    """``$CLIENTWATCH_MODEL``, else ``models/tone.joblib`` beside the package (a checkout)."""
    env = os.environ.get("CLIENTWATCH_MODEL")
    return Path(env).expanduser() if env else MODELS_DIR / "tone.joblib"


@dataclass
class ToneModel:
    """A loaded tone model; ``predict`` takes raw client texts."""

    pipeline: Any
    meta: dict[str, Any]
    path: Path | None = None

    @property
    def model_id(self) -> str:
        return str(self.meta.get("corpus_sha256", "?"))[:12] + "/" + str(self.meta.get("trained_at", "?"))

    @property
    def labels(self) -> list[str]:
        return list(self.pipeline.classes_)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> "ToneModel":
        """Load and verify a model file (default: ``default_model_path()``)."""
        import joblib
        import sklearn

        target = Path(path).expanduser() if path else default_model_path()
        hint = "run `clientwatch train` to build it"
        try:
            st = target.stat()
        except FileNotFoundError as e:
            raise ModelError(f"{target}: no tone model; {hint}") from e
        except OSError as e:
            raise ModelError(f"{target}: cannot read the tone model: {e.strerror}") from e
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ModelError(f"{target}: refusing to load a model file that group or others can write "
                             f"(it is a pickle, so it could run code); chmod go-w it or {hint}")
        try:
            blob = joblib.load(target)
        except Exception as e:  # joblib/pickle raise many types for a damaged file
            raise ModelError(f"{target}: the tone model is damaged ({type(e).__name__}); {hint}") from e
        if not isinstance(blob, dict) or "pipeline" not in blob or "meta" not in blob:
            raise ModelError(f"{target}: not a clientwatch tone model; {hint}")
        meta = blob["meta"]
        if meta.get("sklearn_version") != sklearn.__version__:
            raise ModelError(f"{target}: the model was trained with scikit-learn {meta.get('sklearn_version')}, "
                             f"this is {sklearn.__version__}; {hint}")
        calibration = meta.get("calibration")
        if calibration is not None:
            from .sentences import KINDS

            if not isinstance(calibration, dict) or calibration.get("inputs") not in KINDS:
                raise ModelError(f"{target}: the model's calibration is of a kind this clientwatch does not apply; {hint}")
        return cls(blob["pipeline"], meta, target)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model atomically, mode 0644 (readable by the service user, writable by us only)."""
        import joblib

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        joblib.dump({"pipeline": self.pipeline, "meta": self.meta}, tmp, compress=3)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return target

    def predict(self, texts: Iterable[str], subjects: Iterable[str] | None = None) -> list[Tone]:
        """Label and per-label probabilities for each raw message body."""
        texts = list(texts)
        subjects = list(subjects) if subjects is not None else [""] * len(texts)
        return self.predict_prepared([client_text(s, t) for s, t in zip(subjects, texts)])

    def predict_messages(self, items: Sequence[tuple[str, str]]) -> list[Tone]:
        """Classify ``(subject, body)`` pairs (the analysis seam)."""
        return self.predict_prepared([client_text(s, b) for s, b in items])

    def predict_prepared(self, prepared: Sequence[str]) -> list[Tone]:
        """Classify already-preprocessed texts; applies the tuned abusive threshold."""
        if not prepared:
            return []
        from .sentences import predict_proba

        # models from before sentence scoring have no weight: message-level probabilities alone
        probs = predict_proba(self.pipeline, list(prepared), float(self.meta.get("sentence_weight", 1.0)),
                              self.meta.get("calibration"))
        classes = list(self.pipeline.classes_)
        threshold = float(self.meta.get("abusive_threshold", 0.5))
        abusive = classes.index("abusive") if "abusive" in classes else -1
        out = []
        for row in probs:
            scores = {c: round(float(p), 4) for c, p in zip(classes, row)}
            if abusive >= 0 and row[abusive] >= threshold:
                label = "abusive"
            else:
                label = classes[int(row.argmax())]
            out.append(Tone(label, scores))
        return out
