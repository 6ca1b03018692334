"""Write the figures `clientwatch train` printed into the model card, between markers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError
from .sentences import STACKED, STACKED_SCORERS
from .training import format_metrics

START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def _sentence_scoring(meta: dict[str, Any]) -> str:
    calibration = meta.get("calibration") or {}
    if calibration.get("inputs") == STACKED_SCORERS:
        return "worst sentence and the NB-weighted label scorers weighed by the stacked calibration"
    if calibration.get("inputs") == STACKED:
        return "worst sentence weighed by the stacked calibration"
    return f"fixed weight {meta.get('sentence_weight', 1.0)} on the message"


def render(meta: dict[str, Any]) -> str:
    held, cv = meta["held_out"], meta["cross_validation"]
    lines = [f"Trained {meta['trained_at']} with scikit-learn {meta['sklearn_version']}, seed {meta['seed']}, "
             f"on {meta['corpus_size']} messages (corpus sha256 `{meta['corpus_sha256'][:16]}`) "
             f"in {meta['training_seconds']} s. Abusive threshold: {meta['abusive_threshold']}; sentence scoring: "
             f"{_sentence_scoring(meta)}.", "",
             "### Held-out split (grouped by scenario)", "", "```", format_metrics(held["overall"]), "```", "",
             "| language | n | macro-F1 | abusive F1 | controlling F1 | stalling F1 | neutral F1 |",
             "|---|---|---|---|---|---|---|"]
    for lang, m in held["per_language"].items():
        f1 = {l: v["f1"] for l, v in m["per_class"].items()}
        lines.append(f"| {lang} | {m['n']} | {m['macro_f1']:.3f} | " + " | ".join(
            f"{f1.get(l, 0):.3f}" for l in ("abusive", "controlling", "stalling", "neutral")) + " |")
    en = held["per_language"].get("en", {}).get("per_class", {}).get("abusive")
    if en:
        lines += ["", f"English abusive on the held-out split: precision {en['precision']:.3f}, recall {en['recall']:.3f} "
                      f"(n={en['support']}) at the operating threshold."]
        best = held.get("english_recall_at_precision")
        if best:
            lines += [f"Best English abusive recall with precision ≥ 0.85 on the same split, the threshold "
                      f"({best['threshold']}) picked on the test data itself (an upper bound, not the operating point): "
                      f"recall {best['recall']:.3f} at precision {best['precision']:.3f}."]
    dup = held["near_duplicates"]
    lines += ["", f"Near-duplicates between train and test (character-trigram cosine ≥ {dup['cutoff']}): "
                  f"{dup['count']} of {dup['of']} (max {dup['max_cosine']}, median {dup['median_cosine']}).", ""]
    base = held.get("profanity_check")
    if base:
        en = held.get("profanity_check_en") or {}
        abusive = held["overall"]["per_class"].get("abusive", {})
        lines += ["### Beside alt-profanity-check (abusive vs rest, same held-out split)", "",
                  "| model | precision | recall | F1 |", "|---|---|---|---|",
                  f"| clientwatch | {abusive.get('precision', 0):.3f} | {abusive.get('recall', 0):.3f} | {abusive.get('f1', 0):.3f} |",
                  f"| alt-profanity-check (all languages) | {base['precision']:.3f} | {base['recall']:.3f} | {base['f1']:.3f} |",
                  f"| alt-profanity-check (English only) | {en.get('precision', 0):.3f} | {en.get('recall', 0):.3f} | {en.get('f1', 0):.3f} |", ""]
    lines += ["### Grouped 5-fold cross-validation", "",
              f"macro-F1 {cv['macro_f1_mean']:.3f} ± {cv['macro_f1_std']:.3f} (folds: "
              f"{', '.join(f'{s:.3f}' for s in cv['macro_f1_per_fold'])}); abusive recall {cv['abusive_recall_mean']:.3f}.", ""]
    pooled = cv.get("pooled_per_language")
    if pooled:
        lines += ["The five folds' out-of-fold predictions pooled (every message scored once, by a model that never "
                  "saw its scenario):", "",
                  "| language | n | macro-F1 | abusive precision | abusive recall |", "|---|---|---|---|---|"]
        for lang, m in pooled.items():
            ab = m["per_class"].get("abusive", {})
            lines.append(f"| {lang} | {m['n']} | {m['macro_f1']:.3f} | {ab.get('precision', 0):.3f} | {ab.get('recall', 0):.3f} |")
        best = cv.get("pooled_english_recall_at_precision")
        if best:
            lines += ["", f"Best English abusive recall with precision ≥ 0.85 over the pooled predictions (threshold "
                          f"{best['threshold']} picked on them, an upper bound): recall {best['recall']:.3f} at precision "
                          f"{best['precision']:.3f}."]
        lines.append("")
    blind = meta.get("blind")
    if blind:
        bdup = blind["near_duplicates"]
        lines += ["### Blind set (`models/eval/`: written without sight of the corpus, never trained on)", "",
                  "```", format_metrics(blind["overall"]), "```", "",
                  "| language | n | macro-F1 | abusive precision | abusive recall |", "|---|---|---|---|---|"]
        for lang, m in blind["per_language"].items():
            ab = m["per_class"].get("abusive", {})
            lines.append(f"| {lang} | {m['n']} | {m['macro_f1']:.3f} | {ab.get('precision', 0):.3f} | {ab.get('recall', 0):.3f} |")
        lines += ["", "| half | n | macro-F1 | English macro-F1 | English abusive precision | English abusive recall |",
                  "|---|---|---|---|---|---|"]
        for h in ("dev", "test"):
            m, en_h = blind["halves"][h], blind["english_halves"][h]
            ab = en_h["per_class"].get("abusive", {})
            lines.append(f"| {h} | {m['n']} | {m['macro_f1']:.3f} | {en_h['macro_f1']:.3f} | {ab.get('precision', 0):.3f} | "
                         f"{ab.get('recall', 0):.3f} |")
        lines += ["", f"Near-duplicates between the corpus and the blind set (character-trigram cosine ≥ {bdup['cutoff']}): "
                      f"{bdup['count']} of {bdup['of']} (max {bdup['max_cosine']}).", ""]
    if meta.get("ablation"):
        lines += ["### Ablation: public data sets added to the training folds", "",
                  "| training data | rows added | CV macro-F1 | abusive recall |", "|---|---|---|---|"]
        for name, v in meta["ablation"].items():
            lines.append(f"| {name} | {v.get('rows', 0)} | {v['macro_f1_mean']:.3f} | {v['abusive_recall_mean']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def update_card(path: Path, meta: dict[str, Any]) -> None:
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise InputError(f"{path}: no {START} … {END} markers to write the figures between")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{render(meta)}\n{END}{tail}", encoding="utf-8")
