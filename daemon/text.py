"""The client's own new text: quoted replies, forwarded blocks, signatures and HTML
remnants removed, so the tone model reads only what the client just wrote.

Quote detection is mail-parser-reply's (a maintained, multi-language port of GitHub's
email_reply_parser); a second pass here covers the reply headers it does not know
(Croatian, Telugu, Korean and Spanish client formats among them) and `>` lines.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Iterator

from mailparser_reply import EmailReplyParser

REPLY_LANGUAGES = ["en", "de", "es", "fr", "it", "nl", "pl", "sv", "da", "cs", "ko", "ja", "zh"]
MAX_CHARS = 6000

# "From:" in the languages our clients write; the Korean ones are never read as prose (``_FROM_PROSE``)
_FROM_WORDS, _FROM_KOREAN = r"From|Von|De|Od|Van|Från|Fra", r"보낸\ 사람|발신"
# A line that introduces quoted or forwarded text, in the languages our clients write.
_QUOTE_HEADER = re.compile(
    r"""^\s*(?:
        (?:On|Am|El|Le|Il|Op|Dana|Dne|W\ dniu|Em|Den|På)\b.{0,200}?
            (?:wrote|schrieb|escribió|a\ écrit|ha\ scritto|schreef|napisao|napisala|napisa|napisał|escreveu|skrev)\s*:?\s*$
      | .{0,120}?(?:wrote|schrieb|escribió|napisao|napisala|je\ napisao|je\ napisala|napisał\(a\)|skrev)\s*:\s*$
      | .{0,160}?(?:님이\ 작성|작성:|님이\ 작성한\ 글|작성하셨습니다|వ్రాశారు|రాశారు|రాసారు)\s*:?\s*$
      | -{2,}\s*(?:Original\ Message|Originalnachricht|Ursprüngliche\ Nachricht|Mensaje\ original|Izvorna\ poruka|
                 Izvorna\ poruka|Forwarded\ message|Weitergeleitete\ Nachricht|Mensaje\ reenviado|Proslijeđena\ poruka|
                 원본\ 메시지|전달된\ 메시지|Message\ d'origine)\s*-{2,}.*$
      | _{5,}\s*$
      | >>>\ .{1,160}?\ >>>\s*$
      | (?:""" + _FROM_WORDS + "|" + _FROM_KOREAN + r""")\s*:\s*.+$
    )""", re.IGNORECASE | re.VERBOSE)
# Every header above holds a colon, a rule or ">>>", and then a "From:"-like start, a rule or
# one of these words (lower case): ``in`` rules most lines out at C speed, several times
# faster than the header pattern's lazy scans (``_could_be_header``).
_HEADER_WORDS = ("wrote", "schrieb", "escribió", "écrit", "scritto", "schreef", "napisa", "escreveu", "skrev",
                 "작성", "వ్రాశారు", "రాశారు", "రాసారు")
_FROM_START = re.compile(r"\s*(?:" + _FROM_WORDS + "|" + _FROM_KOREAN + r")\s*:", re.IGNORECASE)
_FROM_PROSE = re.compile(r"^\s*(?:" + _FROM_WORDS + r")\s*:", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*(?:Sent|Gesendet|Enviado|Poslano|Date|Datum|Fecha|To|An|Para|Za|Subject|Betreff|Asunto|"
                           r"Predmet|Cc|보낸\ 날짜|받는\ 사람|제목)\s*:", re.IGNORECASE | re.VERBOSE)
_SIGNATURE = re.compile(
    r"^\s*(?:--\s*|__+|Sent from my \w+.*|Sent from (?:Outlook|Mail|Yahoo Mail|Gmail).*|Get Outlook for \w+.*|"
    r"Von meinem \w+ gesendet|Gesendet von meinem \w+.*|Enviado desde mi \w+.*|Poslano s mog \w+.*|"
    r"Poslano sa mog \w+.*|iPhone에서 보냄|Sent via .*)\s*$", re.IGNORECASE)
_SIGNATURE_LINE = re.compile(_SIGNATURE.pattern, _SIGNATURE.flags | re.MULTILINE)
_TAGS = re.compile(r"<[^>\n]{0,300}>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
# runs of blanks, or one blank that is not a plain space: a lone space is left alone, which
# spares a substitution per word gap
_SPACES = re.compile(r"[ \t\u00a0\u200b]{2,}|[\t\u00a0\u200b]")
_BLANK_LINES = re.compile(r"\n\s*\n+")


@lru_cache(maxsize=1)
def _parser() -> EmailReplyParser:
    return EmailReplyParser(languages=REPLY_LANGUAGES)


_DIGIT = re.compile(r"\d")


def _could_be_header(line: str) -> bool:
    """False for a line that ``_QUOTE_HEADER`` cannot match (a necessary condition only)."""
    if ":" in line or "：" in line:
        if _FROM_START.match(line):
            return True
        lower = line.lower()
        for word in _HEADER_WORDS:
            if word in lower:
                return True
    return "--" in line or "__" in line or ">>>" in line


def _headers(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) of each line of ``text`` that reads as a quote or forward header."""
    offset = 0
    for line in text.split("\n"):
        if _could_be_header(line) and _QUOTE_HEADER.match(line):
            yield offset, line
        offset += len(line) + 1


def _suspect(text: str) -> bool:
    """A line that ends in a colon after an address or a digit ("… 10:12 … <x@y>:"): perhaps an
    attribution in a format the line scan does not know."""
    for line in text.split("\n"):
        head = line.rstrip(" \t")
        if head.endswith(":") and ("@" in head[:-1] or _DIGIT.search(head, 0, len(head) - 1)):
            return True
    return False


def strip_quotes(body: str) -> str:
    """The body down to the first quoted or forwarded block, with `>` lines dropped.

    Our own line scan handles the common formats at a few microseconds a message; the
    library (about 0.5 ms a message) is consulted only when a line still looks like an
    attribution we do not know ("… 10:12 … <x@y>:"), which keeps classification fast.
    """
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    cut = False
    # the first line that introduces a quoted or forwarded block ends the client's text
    for start, line in _headers(text):
        end = start + len(line)
        if _FROM_PROSE.match(line) and not any(
                _OUTLOOK_NEXT.match(n) for n in text[end:end + 400].split("\n")[1:4]):
            continue  # "From: x" alone is ordinary prose unless an Outlook block follows it
        text = text[:start]
        cut = True
        break
    if ">" in text:
        kept: list[str] = []
        for line in text.split("\n"):
            if line.lstrip().startswith(">"):
                if not cut:
                    # the attribution line just above the first quoted line is not the client's
                    while kept and not kept[-1].strip():
                        kept.pop()
                    if kept and kept[-1].rstrip().endswith(":") and len(kept[-1]) < 200:
                        kept.pop()
                cut = True
                continue
            kept.append(line)
        text = "\n".join(kept)
    if not cut and ":" in text and _suspect(text):
        try:
            reply = _parser().parse_reply(text=text)
            if reply and reply.strip():
                text = reply
        except Exception:  # a third-party parser must never take a message down with it
            pass
    return text


def strip_signature(text: str) -> str:
    """Cut at a signature delimiter or a "Sent from my phone" line (never the first line)."""
    for match in _SIGNATURE_LINE.finditer(text):
        if match.start() > 0:
            return text[:match.start()]
    return text


def clean(text: str) -> str:
    """HTML remnants, URLs and addresses out; whitespace normalised."""
    if "<" in text:
        text = _TAGS.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    lowered = text.lower()
    if "http" in lowered or "www." in lowered:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    if "  " in text or "\t" in text or "\u00a0" in text or "\u200b" in text:
        text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


def client_text(subject: str, body: str) -> str:
    """What the tone model reads: the subject without reply prefixes, then the new text."""
    from .threads import normalize_subject

    new = clean(strip_signature(strip_quotes(body[: MAX_CHARS * 3])))[:MAX_CHARS]
    subject = normalize_subject(subject) if subject else ""
    return f"{subject}\n{new}" if subject else new
