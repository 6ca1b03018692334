"""Typed records passed between the pipeline's modules."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Message:
    """One parsed email, as the analysis needs it (headers normalised, text decoded)."""

    message_id: str
    date: datetime  # aware, UTC
    from_addr: str  # lower-case address, "" when missing
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str  # the decoded body text (plain, or HTML converted), capped
    automated: bool
    folder: str = ""
    uid: int | None = None


@dataclass(frozen=True)
class BadMessage:
    """A message that could not be parsed: recorded so it is never lost silently."""

    folder: str
    uid: int | None
    reason: str
    size: int = 0


@dataclass(frozen=True)
class Tone:
    """The tone model's verdict on one text."""

    label: str
    scores: dict[str, float] = field(default_factory=dict)
