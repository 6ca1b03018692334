"""Agreement between the corpus labels and the blind second annotation in this folder.

    python models/audit/agreement.py

Reads `second-labels.jsonl` and the current corpus labels; prints, per sample kind, how often
the second annotator gave the corpus label, how often the model's label at audit time, and
Cohen's kappa. Asserts nothing.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from clientwatch.training import load_corpus, load_jsonl

HERE = Path(__file__).resolve().parent

FIELDS = ("id", "corpus_label", "model_label", "kind", "second_label", "unsure", "why")


def main() -> None:
    gold = {e.id: e.label for e in load_corpus()[0]}
    rows = load_jsonl(HERE / "second-labels.jsonl", required=FIELDS)
    missing = [r["id"] for r in rows if r["id"] not in gold]
    if missing:
        raise SystemExit(f"audit ids not in the corpus: {', '.join(missing[:10])}")
    print(f"{len(rows)} messages audited")
    for kind in ("control", "model error"):
        part = [r for r in rows if r["kind"] == kind]
        truth = [gold[r["id"]] for r in part]
        second = [r["second_label"] for r in part]
        same = sum(a == b for a, b in zip(truth, second))
        with_model = sum(r["model_label"] == b for r, b in zip(part, second))
        print(f"{kind}: n={len(part)}; second annotator = corpus label {same} ({same / len(part):.3f}), "
              f"= model label {with_model} ({with_model / len(part):.3f}); "
              f"Cohen's kappa {cohen_kappa_score(truth, second):.3f}; marked unsure {sum(r['unsure'] for r in part)}")
        off = Counter(f"{t}->{s}" for t, s in zip(truth, second) if t != s)
        if off:
            print("  disagreements (corpus -> second): " + ", ".join(f"{k} {v}" for k, v in sorted(off.items())))


if __name__ == "__main__":
    main()
