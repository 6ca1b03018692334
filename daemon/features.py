"""A faster ``TfidfVectorizer.transform`` for classification time.

scikit-learn counts features with a Python loop over every n-gram of every document,
which for character 2–5-grams of a 1 KB email is ~2,800 dictionary look-ups in Python
(about 2 ms a message). Here the vocabulary look-ups run through ``map(dict.get, …)``,
and for ``char_wb`` the n-gram indices of each word are computed once and cached, since
the same words recur across mail. The result is the same matrix (a test checks it);
``fit`` is scikit-learn's own.
"""
from __future__ import annotations

import re
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from .sentences import Segmented

_CACHE_LIMIT = 200_000


class _GramStore:
    """Each word seen so far, with the vocabulary ids of its char_wb n-grams in one flat array
    (word ``k``'s are ``grams[ptr[k]:ptr[k + 1]]``). Words recur across mail, so a batch mostly
    costs one dictionary look-up per word. Holds at most ``_CACHE_LIMIT`` words, then starts over."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self._reset()

    def _reset(self) -> None:
        self.ids: dict[str, int] = {"\x00": -1}  # -1: the document separator
        self.ptr = np.zeros(1, dtype=np.int64)
        self.grams = np.empty(0, dtype=np.int32)

    def lookup(self, words: list[str], word_grams: Any) -> np.ndarray:
        ids = np.fromiter(map(self.ids.get, words, repeat(-2)), dtype=np.int64, count=len(words))
        new = np.flatnonzero(ids == -2)
        if len(new):
            fresh = list(dict.fromkeys(words[i] for i in new))
            if len(self.ids) + len(fresh) > _CACHE_LIMIT and len(self.ids) > 1:
                self._reset()  # bounded memory: start over
                return self.lookup(words, word_grams)
            lists = [word_grams(w) for w in fresh]
            flat = list(chain.from_iterable(lists))
            found = np.fromiter(map(self.vocab.get, flat, repeat(-1)), dtype=np.int32, count=len(flat))
            owner = np.repeat(np.arange(len(fresh)), [len(g) for g in lists])
            keep = found >= 0
            counts = np.bincount(owner[keep], minlength=len(fresh))
            first = len(self.ptr) - 1
            self.grams = np.concatenate([self.grams, found[keep]])
            self.ptr = np.concatenate([self.ptr, self.ptr[-1] + np.cumsum(counts)])
            self.ids.update(zip(fresh, range(first, first + len(fresh))))
            ids[new] = np.fromiter(map(self.ids.__getitem__, (words[i] for i in new)), dtype=np.int64, count=len(new))
        return ids


class FastTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` with a vectorised ``transform`` (same output)."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_gram_store", None)
        state.pop("_token_re", None)
        state.pop("_word_index", None)
        vocab = state.pop("vocabulary_", None)
        if vocab is not None:
            # one newline-joined string instead of a dict of ~10^5 strings: joblib unpickles in
            # pure Python, and this makes loading the model several times faster. Terms never
            # contain a newline (words are split on whitespace; n-grams are taken inside words).
            terms = sorted(vocab, key=vocab.__getitem__)
            contiguous = list(map(vocab.__getitem__, terms)) == list(range(len(terms)))
            if not contiguous or any("\n" in t for t in terms):
                state["vocabulary_"] = vocab
            else:
                state["_vocabulary_terms"] = "\n".join(terms)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        terms = state.pop("_vocabulary_terms", None)
        super().__setstate__(state)
        if terms is not None:
            words = terms.split("\n") if terms else []
            self.vocabulary_ = dict(zip(words, range(len(words))))

    def _word_grams(self, word: str) -> list[str]:
        """The char_wb n-grams of one word, exactly as scikit-learn makes them."""
        w = " " + word + " "
        w_len = len(w)
        min_n, max_n = self.ngram_range
        grams: list[str] = []
        for n in range(min_n, max_n + 1):
            if w_len <= n:
                grams.append(w)  # a short word counts once, whole (scikit-learn's rule)
                break
            grams += [w[i:i + n] for i in range(w_len - n + 1)]
        return grams

    def _counts_char_wb(self, docs: list[str], vocab: dict[str, int]) -> sp.csr_matrix:
        """Counts as (documents × words) @ (words × n-grams): the sparse product sums the
        n-grams of repeated words in C; each word's n-grams are looked up once and kept in a
        ``_GramStore`` for the next batch."""
        store = self.__dict__.get("_gram_store")
        if store is None or store.vocab is not vocab:
            store = self.__dict__["_gram_store"] = _GramStore(vocab)
        # scikit-learn collapses whitespace runs before split(); split() alone gives the same
        # words. One split of the whole batch, documents separated by a "\x00" word (a NUL
        # inside a message, which mail never carries, is read as a space).
        joined = " \x00 ".join(d.replace("\x00", " ") for d in docs) + " \x00"
        words = (joined.lower() if self.lowercase else joined).split()
        ids = store.lookup(words, self._word_grams)
        boundary = ids < 0
        distinct, column = np.unique(ids[~boundary], return_inverse=True)
        doc_ptr = np.zeros(len(docs) + 1, dtype=np.int64)
        doc_ptr[1:] = np.flatnonzero(boundary) - np.arange(len(docs))
        per_doc = sp.csr_matrix((np.ones(len(column), dtype=self.dtype), column.astype(np.int32), doc_ptr),
                                shape=(len(docs), len(distinct)))
        # (distinct words × n-grams) straight from the store's flat arrays
        starts, ends = store.ptr[distinct], store.ptr[distinct + 1]
        lengths = ends - starts
        word_ptr = np.zeros(len(distinct) + 1, dtype=np.int64)
        np.cumsum(lengths, out=word_ptr[1:])
        offsets = np.arange(word_ptr[-1], dtype=np.int64) - np.repeat(word_ptr[:-1], lengths)
        cols = store.grams[np.repeat(starts, lengths) + offsets]
        per_word = sp.csr_matrix((np.ones(len(cols), dtype=self.dtype), cols, word_ptr),
                                 shape=(len(distinct), len(vocab)))
        # column order within a row does not matter to TF-IDF or a linear model: no sort
        return (per_doc @ per_word).tocsr()

    def _word_tables(self, vocab: dict[str, int]) -> tuple[dict[str, int], int, np.ndarray, np.ndarray, np.ndarray]:
        """Vocabulary as integer tables: a token index (and its size), token → unigram feature,
        and the sorted keys ``t1 * n_tokens + t2`` of the bigram features with their feature ids."""
        tables = self.__dict__.get("_word_index")
        if tables is not None and tables[0] is vocab:
            return tables[1]
        tokens: dict[str, int] = {}
        uni: list[tuple[int, int]] = []
        bi: list[tuple[str, str, int]] = []
        for term, feature in vocab.items():
            first, _, second = term.partition(" ")
            if second:
                bi.append((first, second, feature))
                tokens.setdefault(first, len(tokens))
                tokens.setdefault(second, len(tokens))
            else:
                uni.append((tokens.setdefault(term, len(tokens)), feature))
        n = len(tokens)
        unigram = np.full(n + 1, -1, dtype=np.int64)  # the last slot: a token not in the vocabulary
        for token, feature in uni:
            unigram[token] = feature
        keys = np.array([tokens[a] * n + tokens[b] for a, b, _ in bi], dtype=np.int64)
        features = np.array([f for _, _, f in bi], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        tokens["\x00"] = -1  # the row separator of a tokenised batch (never a \w+ token)
        built = (tokens, n, unigram, keys[order], features[order])
        self.__dict__["_word_index"] = (vocab, built)
        return built

    def _counts_word(self, docs: list[str], vocab: dict[str, int], spanning: np.ndarray | None = None,
                     flat: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, feature, inside-one-row) of every word 1- or 1-2-gram in ``docs``: the tokens of
        the whole batch are looked up once, and bigrams are matched as integer pairs in numpy.
        With ``spanning`` (a group per row, e.g. the message of each sentence), bigrams that
        join the end of one row to the start of the next row of the same group count too, with
        inside-one-row False. ``flat`` is the batch already tokenised (``Segmented.lower_tokens``)."""
        tokens, n, unigram, bigram_keys, bigram_features = self._word_tables(vocab)
        if flat is None:
            # one scan of the whole batch, rows separated by \x00 (never part of a token)
            find = self.__dict__.setdefault("_token_re", re.compile(r"\w+|\x00"))
            joined = "\x00".join(d.replace("\x00", " ") for d in docs) + "\x00"
            flat = find.findall(joined.lower() if self.lowercase else joined)
        ids = np.fromiter(map(tokens.get, flat, repeat(n)), dtype=np.int64, count=len(flat))
        boundary = ids < 0
        rows = (np.cumsum(boundary) - boundary)[~boundary]
        ids = ids[~boundary]
        uni = unigram[ids]
        keep = uni >= 0
        out_rows, out_cols, out_within = [rows[keep]], [uni[keep]], [np.ones(int(keep.sum()), dtype=bool)]
        if self.ngram_range == (1, 2) and len(ids) > 1 and len(bigram_keys):
            a, b = ids[:-1], ids[1:]
            same = rows[:-1] == rows[1:]
            joined = same if spanning is None else spanning[rows[:-1]] == spanning[rows[1:]]
            pair = joined & (a < n) & (b < n)
            key = a[pair] * n + b[pair]
            pos = np.minimum(np.searchsorted(bigram_keys, key), len(bigram_keys) - 1)
            hit = bigram_keys[pos] == key
            out_rows.append(rows[:-1][pair][hit])
            out_cols.append(bigram_features[pos[hit]])
            out_within.append(same[pair][hit])
        return np.concatenate(out_rows), np.concatenate(out_cols), np.concatenate(out_within)

    def transform_segmented(self, seg: "Segmented") -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """TF-IDF of the messages and of their sentences, counting each word once: a message's
        counts are its sentences' counts summed, plus (word bigrams) the pairs that span two
        of its sentences. The message rows equal ``transform(seg.docs)``."""
        check_is_fitted(self, msg="The TF-IDF vectorizer is not fitted")
        vocab = self.vocabulary_
        if self.analyzer == "char_wb" and not self.binary and seg.texts:
            per_sentence = self._counts_char_wb(seg.texts, vocab)
            per_doc = (seg.summing() @ per_sentence).tocsr()
        elif not self.binary and seg.texts and self._fast_words():
            shared = seg.lower_tokens() if self.lowercase else None
            rows, cols, within = self._counts_word(seg.texts, vocab, spanning=seg.owner, flat=shared)
            per_sentence = self._count_matrix(rows[within], cols[within], len(seg.texts), len(vocab))
            per_doc = self._count_matrix(seg.owner[rows], cols, len(seg.docs), len(vocab))
        else:
            return self.transform(seg.docs), self.transform(seg.texts)
        return self._tfidf.transform(per_doc, copy=False), self._tfidf.transform(per_sentence, copy=False)

    def _count_matrix(self, rows: np.ndarray, cols: np.ndarray, n_rows: int, n_features: int) -> sp.csr_matrix:
        """CSR counts from (row, column) pairs: one sort gives canonical order, duplicates counted."""
        keys, counts = np.unique(rows * n_features + cols, return_counts=True)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys // n_features, minlength=n_rows), out=indptr[1:])
        matrix = sp.csr_matrix((counts.astype(self.dtype), (keys % n_features).astype(np.int32), indptr),
                               shape=(n_rows, n_features))
        matrix.has_sorted_indices = True
        matrix.has_canonical_format = True
        return matrix

    def _fast_words(self) -> bool:
        """Plain word 1- or 1-2-grams of ``\\b\\w+\\b`` tokens (the same as ``\\w+``) with
        scikit-learn's default preprocessing and no stop words: the batched path applies."""
        return (self.analyzer == "word" and self.ngram_range in ((1, 1), (1, 2)) and self.stop_words is None
                and self.preprocessor is None and self.tokenizer is None and self.strip_accents is None
                and self.token_pattern == r"(?u)\b\w+\b")

    def transform(self, raw_documents: Iterable[str]) -> sp.csr_matrix:
        check_is_fitted(self, msg="The TF-IDF vectorizer is not fitted")
        if self.analyzer not in ("char_wb", "word") or self.binary or callable(self.analyzer):
            return super().transform(raw_documents)
        vocab = self.vocabulary_
        docs = list(raw_documents)
        if not docs:
            return self._tfidf.transform(sp.csr_matrix((1, len(vocab)), dtype=self.dtype))[:0]
        if self.analyzer == "char_wb":
            return self._tfidf.transform(self._counts_char_wb(docs, vocab), copy=False)
        n_features = len(vocab)
        if self._fast_words():
            row_ids, cols, _ = self._counts_word(docs, vocab)
        else:
            analyze = self.build_analyzer()
            rows = []
            for d in docs:
                feats = analyze(d)
                idx = np.fromiter(map(vocab.get, feats, repeat(-1)), dtype=np.int32, count=len(feats))
                rows.append(idx[idx >= 0])
            lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
            cols = np.concatenate(rows).astype(np.int64)
            row_ids = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        return self._tfidf.transform(self._count_matrix(row_ids, cols, len(docs), n_features), copy=False)
