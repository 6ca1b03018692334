"""How the tone model reads terse replies: the check set in this folder, under seven subjects.

    python models/checks/short_replies.py [MODEL]

`short-replies.jsonl` holds 48 short neutral and 15 short abusive client replies, written by the
team after `models/corpus/en-9a.jsonl` and never trained on (not blind: the same writer).
Each is scored with no subject and under six ordinary subject lines; the script prints how
many neutral replies get another label (and how many of those `abusive`), and how many
abusive ones are missed. Asserts nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

from clientwatch.tone import ToneModel
from clientwatch.training import load_jsonl

HERE = Path(__file__).resolve().parent

SUBJECTS = ("", "Re: homepage draft", "Re: invoice 1043", "Re: logo options", "Re: Friday shoot",
            "Re: contract", "Re: Q3 report")


def main() -> None:
    model = ToneModel.load(sys.argv[1] if len(sys.argv) > 1 else None)
    rows = load_jsonl(HERE / "short-replies.jsonl", required=("id", "label", "text"))
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    flagged = as_abusive = missed = 0
    for subject in SUBJECTS:
        got = [t.label for t in model.predict(texts, [subject] * len(texts))]
        f = sum(l == "neutral" and g != "neutral" for l, g in zip(labels, got))
        a = sum(l == "neutral" and g == "abusive" for l, g in zip(labels, got))
        m = sum(l == "abusive" and g != "abusive" for l, g in zip(labels, got))
        print(f"subject {subject or '(none)'!r}: neutral flagged {f}, as abusive {a}; abusive missed {m}")
        flagged, as_abusive, missed = flagged + f, as_abusive + a, missed + m
    n_neutral, n_abusive = labels.count("neutral") * len(SUBJECTS), labels.count("abusive") * len(SUBJECTS)
    print(f"total: neutral flagged {flagged} of {n_neutral} (as abusive {as_abusive}); "
          f"abusive missed {missed} of {n_abusive}")


if __name__ == "__main__":
    main()
