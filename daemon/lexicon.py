"""Insult and threat lexicon features, written by the team, for the tone model.

The n-gram features only know the words of the corpus; a client who calls someone a
"numpty" or a "halfwit" uses a word the corpus may never contain. These few dense features
pool a hand-written list of insults, contempt and threats in the six languages we serve,
so the model learns *that* an insult aimed at the reader is abusive from the corpus and
applies it to every word on the list. They count:

- insults anywhere (profanity at things is common and neutral, so this alone is weak);
- insults within a few words after a second-person word ("you absolute muppet",
  "du Vollidiot", "nuvvu vedhava") — the strong signal;
- threat and demeaning phrases ("I'll make sure everyone hears", "at your age");
- words in capitals (yelling);
- insults near a first-person word and no second-person one ("I'm an idiot, wrong file"):
  self-deprecation, a sign of a friendly mail;
- insults inside double quotation marks ("he called me \"a fraud\"", script notes,
  moderation guidelines): mentioned, not used, so they count here and not above.

Each distinct token is classified once (then one cached look-up per token), and only the
rare hits are looked at in Python; Korean and Telugu entries are matched in the text by one
regular expression, so a 1 KB message costs some tens of microseconds.
"""
from __future__ import annotations

import re
from itertools import repeat
from typing import Any, Iterable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from .sentences import Segmented, segment

# second-person words, per language; the Korean and Telugu ones (which take particles and
# vowel signs) are matched in the text, not as tokens
_SECOND_WORDS = """
you your you're youre youve you've yourself u ur ya yall y'all
du dich dir dein deine deinen deinem deiner sie ihr ihnen ihre ihren
tú tu te ti usted ustedes vos su sus contigo eres estás estas tienes sois
bist seid hast
ti te tebe tebi tvoj tvoja tvoje tvog vi vas vaš vaša vaše vama ste si
nuvvu nuvu nee neeku ni niku meeru miru mee meeku miku neevu
""".split()
# first-person words (self-deprecation: "I'm hopeless with numbers", "ich Depp")
_FIRST_WORDS = """
i me my myself mine we us our ourselves
ich mich mir mein meine meinen meinem meiner wir uns unser
yo mí mis conmigo soy nosotros nuestro
ja mene meni moj moja moje sam nas naš
nenu naaku naku memu manam
""".split()
_SECOND_PREFIXES = "너 니가 니네 당신 너희 네가 నువ్వు నీ నీకు మీరు మీ మీకు వాడివి దానివి".split()

# insults and contempt; stems (ending in "~") match any continuation
_INSULTS = """
idiot~ moron~ stupid~ dumb dumber dumbest incompeten~ useless worthless pathetic clown~ amateur~ laughable hopeless
clueless brainless liar liars fraud frauds scammer~ imbecil~ cretin~ retard~ loser losers embarrass~ disgrace~
shameful sloppy inept halfwit~ dimwit~ nitwit~ numpty numpties muppet~ donkey plank simpleton dunce buffoon~ parasite~
leech~ incapable ignorant pea-brain~ pea brain~ lowlife scum~ vermin idiocy hack hacks fool fools foolish
garbage trash rubbish crap crappy shit shitty shite bullshit fuck~ fck~ fuk~ wtf stfu asshole~ arsehole~ ass
bitch~ bastard~ dickhead~ prick~ twat~ wanker~ tosser~ douche~ jackass~ dipshit~ screwup
airhead~ bimbo~ weasel~ slob slobs oaf oafs dolt dolts twit twits nincompoop~ bozo~ doofus dumbass~ dumbo pillock~
plonker~ prat prats eejit~ knobhead~ bellend~ gobshite~ charlatan~ conman conmen crook crooks sleazebag~
freeloader~ deadbeat~ spineless gutless dimwitted halfwitted
vollidiot~ idiot~ unfähig~ inkompetent~ dumm~ blöd~ bescheuert~ nutzlos~ lächerlich~ stümper~ dilettant~ peinlich~
armselig~ versager~ trottel~ depp~ pfeife~ scheiß~ scheiss~ schwachsinn~ schwachkopf~ hohlkopf~ flasche~ witzfigur~
inútil~ inutil~ incompetent~ idiota~ estúpid~ estupid~ imbécil~ imbecil~ payaso~ mediocre~ patétic~ patetic~
ridícul~ ridicul~ basura mierda~ joder jodid~ gilipollas pendejo~ tont~ inept~ cretino~ mamarracho~ chapuz~ chapucer~
inservible~ vago vaga vagos analfabet~ ignorante~
glup~ nesposob~ beskoris~ jadn~ jadan smiješn~ smijesn~ sramot~ amater~ kreten~ debil~ budal~ majmun~ sranj~ govn~
jebo~ jebe~ idiot~ papak~ tupan~ tupav~ nesposobnjakovi~ neznalic~ diletant~ nakaz~ lijenčin~ seljačin~ seljak~
vedhava~ vedava~ pichi~ pichodu pichhi~ donga~ dongodu panikiraani~ panikirani~ panikimaalina~ chetta daridram~
erri~ yerri~ bewakoof~ sigguledu siggu gaadida~ gadida~ muurkhu~ murkhu~ sannasi~ kukka~ lanj~ dengu~
""".split()
_INSULT_STEMS_CJK = """멍청 무능 바보 한심 병신 씨발 시발 ㅅㅂ 개같 개새 쓰레기 꺼져 미친 돌았 아마추어 창피 쪽팔 등신 저능 븅신 닥쳐
구제불능 머저리 무식 찌질 허접 답답한
పనికిరా మూర్ఖ వెధవ దరిద్ర చెత్త సిగ్గు పిచ్చి దొంగ మోసగా గాడిద దున్నపోతు""".split()

# threats and demeaning remarks: single words (stems with "~"), and word sequences where
# "a|b" gives alternatives and a trailing "?" makes a word optional
_THREAT_WORDS = """ruin~ destroy~ blacklist~ sweetheart sweetie fertigmach~ ruinier~ vernicht~ bereuen arruin~ hundir~
uništ~ unist~ zažalit~ požalit~""".split()
_THREAT_PHRASES = """
bury you|your
make sure everyone|everybody|nobody|every
one|1 star
you will|ll? regret
pay for this
watch your back
shut up
grow up
get a real job
break your
know where you|u live|work|sleep|park
down your throat
accidents happen
waste of space|oxygen|skin
good for nothing
what are|am we|i even? paying you for
at your age
your accent
which tracks
with your eyes shut|closed
strong suit
one job
little girl|lady
young lady
te vas|va a arrepentir~
peru cheda~
cheda gott~
""".strip().splitlines()
_CJK_THREATS = "망하게 고소 후회하게 매장시 నాశనం కోర్టుకు".split()
_CJK_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e\u0c00-\u0c7f]")
_NEAR_AFTER, _NEAR_BEFORE = 6, 3  # tokens after / before a second-person word that make an insult "aimed"
# double quotation marks (' and ’ are apostrophes too often): „ and « open, » closes, the rest
# toggle, so „…“, “…”, «…» and "…" all pair up
_OPEN, _CLOSE, _TOGGLE = "„«", "»", '"“”'
_QUOTES = frozenset(_OPEN + _CLOSE + _TOGGLE)
# word tokens as scikit-learn makes them, and the quotation marks between them
_QUOTE_TOKENS = re.compile(r"\w+|[" + _OPEN + _CLOSE + _TOGGLE + "]")


class _WordSet:
    """Exact words and stems ("~"), matched per token with a dictionary look-up or two."""

    def __init__(self, words: Iterable[str]) -> None:
        self.exact: set[str] = set()
        self.stems: dict[str, list[str]] = {}
        for w in words:
            w = w.lower()
            if w.endswith("~"):
                self.stems.setdefault(w[:3], []).append(w[:-1])
            else:
                self.exact.add(w)

    def __contains__(self, token: str) -> bool:
        if token in self.exact:
            return True
        candidates = self.stems.get(token[:3])
        return candidates is not None and any(token.startswith(c) for c in candidates)


def _cjk_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Korean and Telugu entries match anywhere in the text (words take particles and vowel signs)."""
    return re.compile("|".join(map(re.escape, sorted(set(words), key=len, reverse=True))))


Phrase = list[tuple[_WordSet, bool]]


def _compile_phrases(lines: Iterable[str]) -> tuple[_WordSet, _WordSet, dict[str, list[Phrase]]]:
    """The words a phrase can start with, the words that can come second, and the phrases by
    first word (or stem). The first two are flags per token, so only a token followed by a
    possible second word is checked in Python."""
    by_first: dict[str, list[Phrase]] = {}
    firsts: list[str] = []
    seconds: list[str] = []
    for line in lines:
        parts = line.split()
        steps = [(_WordSet(p.rstrip("?").split("|")), p.endswith("?")) for p in parts[1:]]
        for part in parts[1:]:
            seconds += part.rstrip("?").split("|")
            if not part.endswith("?"):
                break
        for first in parts[0].split("|"):
            firsts.append(first)
            by_first.setdefault(first.rstrip("~"), []).append(steps)
    return _WordSet(firsts), _WordSet(seconds), by_first


_INSULT_SET = _WordSet(w.replace(" ", "") for w in _INSULTS)
_SECOND_SET = _WordSet(_SECOND_WORDS)
_SELF_SET = _WordSet(_FIRST_WORDS)
_THREAT_SET = _WordSet(_THREAT_WORDS)
_PHRASE_FIRSTS, _PHRASE_SECONDS, _PHRASES = _compile_phrases(_THREAT_PHRASES)
# every entry starts with a Hangul or Telugu letter: the lookahead skips other text at C speed
_SCRIPT_RE = re.compile(r"(?=[\uac00-\ud7a3\u3131-\u318e\u0c00-\u0c7f])(?:" + "|".join(
    f"({_cjk_pattern(words).pattern})" for words in (_INSULT_STEMS_CJK, _SECOND_PREFIXES, _CJK_THREATS)) + ")")


def _phrase_at(tokens: list[str], i: int) -> bool:
    """Whether a threat phrase starts at ``tokens[i]`` (lower-case tokens of one sentence)."""
    first = tokens[i]
    candidates = _PHRASES.get(first) or next(
        (v for k, v in _PHRASES.items() if first.startswith(k)), [])  # stems are few and short-listed
    for steps in candidates:
        j = i + 1
        for words, optional in steps:
            if j < len(tokens) and tokens[j] in words:
                j += 1
            elif not optional:
                break
        else:
            return True
    return False


FEATURES = ("insults", "insults_at_reader", "threats", "caps_words", "insults_at_self", "insults_quoted",
            "any_insult", "any_insult_at_reader")
_COUNTS = len(FEATURES) - 2  # the counts behind FEATURES; the last two are "any" flags of the first two


_INSULT, _SECOND, _THREAT, _FIRST, _NEXT, _SELF = 1, 2, 4, 8, 16, 32
_CACHE: dict[str, int] = {"\x00": -1}  # -1: a sentence boundary
_CACHE_LIMIT = 200_000
_CAPS_RE = re.compile(r"[A-ZÄÖÜÁÉÍÓÚÑČĆŠŽĐ]{3,}|\x00")  # runs of capitals (yelling), sentence ends


_SETS = ((_INSULT, _INSULT_SET), (_SECOND, _SECOND_SET), (_THREAT, _THREAT_SET),
         (_FIRST, _PHRASE_FIRSTS), (_NEXT, _PHRASE_SECONDS), (_SELF, _SELF_SET))
# most tokens are in no set: one exact look-up and one stem-prefix look-up rule them out
_ANY_EXACT = frozenset().union(*(words.exact for _, words in _SETS))
_ANY_PREFIX = frozenset().union(*(words.stems for _, words in _SETS))


def _flags(token: str) -> int:
    """What a lower-case token is, as bit flags; computed once per distinct token (then cached)."""
    flags = 0
    if token in _ANY_EXACT or token[:3] in _ANY_PREFIX:
        for bit, words in _SETS:
            if token in words:
                flags |= bit
    if len(_CACHE) < _CACHE_LIMIT:
        _CACHE[token] = flags
    return flags


def lexicon_counts(text: str) -> tuple[int, ...]:
    """(insults, insults aimed at the reader, threats and demeaning phrases, words in capitals,
    insults aimed at oneself, insults in quotation marks) in one sentence or line of text."""
    counts = count_sentences(Segmented([text], [text], np.zeros(1, dtype=np.int64)))[0]
    return tuple(int(c) for c in counts)


def count_sentences(seg: Segmented) -> np.ndarray:
    """The ``_COUNTS`` lexicon counts of each sentence of ``seg``, as an (n × 6) array. The
    batch's tokens (shared with the word n-grams) are classified by one cached look-up each;
    only the rare hits are looked at in Python."""
    n = len(seg.texts)
    out = np.zeros((n, _COUNTS), dtype=np.float64)
    if not n:
        return out
    caps = _CAPS_RE.findall(seg.joined())
    caps_ends = np.fromiter(map("\x00".__eq__, caps), dtype=bool, count=len(caps))
    out[:, 3] = np.bincount((np.cumsum(caps_ends) - caps_ends)[~caps_ends], minlength=n)
    _count_scripts(seg, out)
    tokens = seg.lower_tokens()
    bits = np.fromiter(map(_CACHE.get, tokens, repeat(-2)), dtype=np.int64, count=len(tokens))
    for i in np.flatnonzero(bits == -2):  # tokens not seen before
        bits[i] = _flags(tokens[i])
    boundary = bits < 0
    bits[boundary] = 0
    if not bits.any():
        return out
    owner = np.cumsum(boundary) - boundary  # the sentence each token is in
    ends = np.flatnonzero(boundary)
    out[:, 2] = np.bincount(owner, weights=(bits & _THREAT) > 0, minlength=n)
    starts = np.flatnonzero(((bits[:-1] & _FIRST) > 0) & ((bits[1:] & _NEXT) > 0))
    for i in starts:
        if _phrase_at(tokens[i:min(i + 8, ends[owner[i]])], 0):
            out[owner[i], 2] += 1
    hits = np.flatnonzero(bits & _INSULT)
    quoted = _in_quotes(seg, owner, ends, hits)
    for i, q in zip(hits, quoted):
        k = owner[i]
        if q:
            out[k, 5] += 1
            continue
        out[k, 0] += 1
        lo, hi = max(0, i - _NEAR_AFTER), min(len(bits), i + _NEAR_BEFORE + 1)
        near = lo + np.flatnonzero(owner[lo:hi] == k)  # the window, within the sentence
        if (bits[near] & _SECOND).any():
            out[k, 1] += 1
        elif (bits[near] & _SELF).any():
            out[k, 4] += 1
    return out


def _in_quotes(seg: Segmented, owner: np.ndarray, ends: np.ndarray, hits: np.ndarray) -> list[bool]:
    """Whether each insult token (global token index in ``hits``) sits inside double quotation
    marks (``_OPEN``, ``_CLOSE``, ``_TOGGLE``), followed across the sentences of a message (a
    quoted passage can hold several). Only messages with an insult and a quotation mark are scanned."""
    if not len(hits):
        return []
    quoted = dict.fromkeys(hits.tolist(), False)
    messages = sorted({int(seg.owner[owner[i]]) for i in hits})
    first = np.searchsorted(seg.owner, messages)  # each message's first sentence (owner is sorted)
    for m, k in zip(messages, first):
        if not _QUOTES.intersection(seg.docs[m]):
            continue
        inside = False
        while k < len(seg.texts) and seg.owner[k] == m:
            t = ends[k - 1] + 1 if k else 0  # the sentence's first token in the batch
            for tok in _QUOTE_TOKENS.findall(seg.texts[k].replace("\x00", " ").lower()):
                if tok in _QUOTES:
                    inside = tok in _OPEN or (tok in _TOGGLE and not inside)
                else:
                    if t in quoted:
                        quoted[t] = inside
                    t += 1
            k += 1
    return [quoted[i] for i in hits.tolist()]


def _count_scripts(seg: Segmented, out: np.ndarray) -> None:
    """Korean and Telugu entries, matched in the text: Telugu vowel signs are not word
    characters to ``re``, so its words fall apart into tokens. An insult counts as aimed when
    its sentence also holds a second-person word. Only sentences in those scripts are read."""
    if _CJK_RE.search(seg.joined()) is None:
        return
    for k, text in enumerate(seg.texts):
        if _CJK_RE.search(text) is None:
            continue
        insults = second = 0
        for insult, you, threat in _SCRIPT_RE.findall(text):
            insults += bool(insult)
            second += bool(you)
            out[k, 2] += bool(threat)
        out[k, 0] += insults
        out[k, 1] += insults if second else 0


def _features(counts: np.ndarray) -> sp.csr_matrix:
    """log(1 + count) of the six counts, and whether there is any insult / any aimed one."""
    out = np.hstack([np.log1p(counts), counts[:, :2] > 0]).astype(np.float32)
    return sp.csr_matrix(out.reshape(-1, len(FEATURES)))


class LexiconFeatures(TransformerMixin, BaseEstimator):
    """Eight dense features per text from the lexicon (``FEATURES``); stateless. A message's
    counts are the sums over its sentences, so an insult and a "you" must share a sentence."""

    def fit(self, X: Any, y: Any = None) -> "LexiconFeatures":
        return self

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        return self.transform_segmented(segment(list(X)))[0]

    def transform_segmented(self, seg: Segmented) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Features of the messages and of their sentences, counting each sentence once."""
        counts = count_sentences(seg)
        return _features(seg.summing() @ counts), _features(counts)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([f"lexicon__{f}" for f in FEATURES], dtype=object)
