"""The insult and threat lexicon: counts in six languages, aimed versus not, and the features."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from clientwatch.lexicon import FEATURES, LexiconFeatures, count_sentences, lexicon_counts
from clientwatch.sentences import segment


@pytest.mark.parametrize("text, insults, aimed", [
    ("You had one job, you absolute muppet.", 1, 1),
    ("I'm an idiot, I attached the wrong file.", 1, 0),      # self-deprecation: not aimed
    ("This damn printer is useless again.", 1, 0),           # a thing, not the reader
    ("Are you actually this incompetent?", 1, 1),
    ("Du bist ein Vollidiot.", 1, 1),
    ("Eres un inútil, de verdad.", 1, 1),
    ("Ti si potpuno nesposoban.", 1, 1),
    ("nuvvu vedhava ra", 1, 1),
    ("너 진짜 멍청하구나", 1, 1),
    ("నువ్వు పనికిరాని వాడివి", 1, 1),
    ("Thanks for the files, see you Monday.", 0, 0),
    ("Answer your phone, you lazy airhead.", 1, 1),
    ("Pushed the fix to the git repo, you can pull it now.", 0, 0),  # "git" is left out on purpose
])
def test_insults_and_whether_they_are_aimed(text: str, insults: int, aimed: int) -> None:
    got = lexicon_counts(text)
    assert got[0] == insults and got[1] == aimed


@pytest.mark.parametrize("text, insults, aimed, at_self, quoted", [
    ("I'm an idiot, I attached the wrong file.", 1, 0, 1, 0),
    ("Sorry, ich Depp habe die falsche Datei geschickt.", 1, 0, 1, 0),
    ("I think you are an idiot.", 1, 1, 0, 0),                   # "you" wins over "I"
    ('He called me "a useless fraud" on Facebook.', 0, 0, 0, 2),  # mentioned, not used
    ("Examples for the guide: “you're a moron”, “nobody likes you, loser”.", 0, 0, 0, 2),
    ("Er schrieb „Vollidiot“. Du bist ein Vollidiot.", 1, 1, 0, 1),  # „…“ closes; the second is used
    ("« Eres un inútil » dijo. Y lo eres, inútil.", 1, 1, 0, 1),  # «…»; "eres" is second person
    ('She wrote "you are useless. Totally. A clown." and left', 0, 0, 0, 2),  # a quote across sentences
])
def test_insults_at_oneself_and_in_quotation_marks(text: str, insults: int, aimed: int, at_self: int,
                                                   quoted: int) -> None:
    """Self-deprecation and quoted (mentioned) insults are told apart from insults used on the
    reader: quoted ones leave the insult counts, and quotation marks are followed across sentences."""
    got = count_sentences(segment([text])).sum(axis=0)
    assert (got[0], got[1], got[4], got[5]) == (insults, aimed, at_self, quoted)


@pytest.mark.parametrize("text", [
    "I'll make sure everyone in this industry hears about you.", "Sweetheart, just do what you're told.",
    "What are we even paying you for?", "You will regret this.", "Google lo reviews lo nee peru cheda gottestha",
    "Ich werde dich fertigmachen.", "I know where you live.", "Accidents happen, you know.", "Te vas a arrepentir.",
    "당신 회사 망하게 해줄게요"])
def test_threats_and_demeaning_phrases(text: str) -> None:
    assert lexicon_counts(text)[2] >= 1


def test_capitals_and_phrases_stop_at_the_sentence() -> None:
    assert lexicon_counts("THIS IS NOT OK")[3] == 2
    assert lexicon_counts("what are we doing. paying you for the logo")[2] == 0


def test_features_shape_sum_over_sentences_and_pickle() -> None:
    lex = LexiconFeatures().fit(["x"])
    m = lex.transform(["You idiot. You idiot.", "", "fine"]).toarray()
    assert m.shape == (3, len(FEATURES))
    assert m[0, 0] == pytest.approx(np.log1p(2)) and m[0, FEATURES.index("any_insult")] == 1.0
    assert not m[1:].any()
    clone = pickle.loads(pickle.dumps(lex))
    assert np.allclose(clone.transform(["You idiot."]).toarray(), lex.transform(["You idiot."]).toarray())
    assert list(lex.get_feature_names_out())[0] == "lexicon__insults"


def test_token_flags_prefilter_matches_every_set() -> None:
    """The quick rule-out (one exact and one stem-prefix look-up) never hides a set's word:
    every token of the corpus gets the flags the five sets give one by one."""
    from clientwatch import lexicon
    from clientwatch.training import load_corpus

    examples, _ = load_corpus()
    tokens = {t for e in examples for t in e.text.lower().split()}
    tokens |= {w + "s" for _, words in lexicon._SETS for w in words.exact}  # stems' inflections too
    hits = 0
    for token in tokens:
        expected = sum(bit for bit, words in lexicon._SETS if token in words)
        assert lexicon._flags(token) == expected, token
        hits += expected > 0
    assert hits > 100  # the corpus does hold lexicon words
