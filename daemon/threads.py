"""Threads (SPEC): Message-ID / In-Reply-To / References links, else the same client's
thread with the same normalised subject."""
from __future__ import annotations

import re
from typing import Sequence, TypeVar

from .records import Message

T = TypeVar("T")

# Reply and forward prefixes in common languages, with optional counters ("Re[2]:", "AW (3):")
# and full-width colons. Order matters only for readability; the regex is applied repeatedly.
_PREFIXES = (
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "vl", "odp", "pd", "tr", "rv", "res", "enc", "antw",
    "doorst", "ref", "r", "i", "ynt", "ilt", "fs", "vb", "bls", "sv", "továbbítás", "vá", "odg", "prosl",
    "proslijeđeno", "fwd", "wtr", "r", "رد", "تحويل", "回复", "回覆", "答复", "转发", "轉寄", "답장", "회신", "전달",
    "返信", "転送", "ΑΠ", "ΣΧΕΤ", "ΠΡΘ", "המשך", "השב", "متابعة", "отв", "пер", "переслать", "ответ", "jav", "továbbítás",
)
_PREFIX_RE = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:" + "|".join(sorted({re.escape(p) for p in _PREFIXES}, key=len, reverse=True))
    + r")\s*(?:\[\d+\]|\(\d+\)|\d+)?\s*[:：]\s*", re.IGNORECASE)
_TAG_RE = re.compile(r"^\s*\[(?:ext|external|extern|spam|sent|ticket[^\]]*)\]\s*", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and external tags, case-folded, spaces collapsed."""
    text = subject or ""
    # until nothing changes (each pass shortens the text, so this ends): a fixed number of passes
    # left "Re: Re: ..." stacked 21 deep half-stripped, in a thread of its own
    while True:
        stripped = _TAG_RE.sub("", _PREFIX_RE.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.split()).casefold()


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def build_threads(items: Sequence[tuple[Message, T]]) -> list[list[tuple[Message, T]]]:
    """Split one client's messages into threads, each ordered by date (then Message-ID).

    Messages are linked when one's In-Reply-To or References names another's Message-ID.
    A message whose links resolve to none of these messages joins the earliest thread with
    the same normalised subject (a non-empty one).
    """
    order = sorted(range(len(items)), key=lambda i: (items[i][0].date, items[i][0].message_id))
    index = {items[i][0].message_id: i for i in order}
    uf = _UnionFind(len(items))
    linked = [False] * len(items)
    for i in order:
        msg = items[i][0]
        for ref in (*msg.in_reply_to, *msg.references):
            j = index.get(ref)
            if j is not None and j != i:
                uf.union(i, j)
                linked[i] = linked[j] = True
    # subject fallback, in date order, so "the thread" is the earliest with that subject
    by_subject: dict[str, int] = {}
    for i in order:
        key = normalize_subject(items[i][0].subject)
        if not key:
            continue
        if not linked[i] and key in by_subject:
            uf.union(i, by_subject[key])
        by_subject.setdefault(key, uf.find(i))
    groups: dict[int, list[int]] = {}
    for i in order:
        groups.setdefault(uf.find(i), []).append(i)
    return [[items[i] for i in members] for members in groups.values()]
