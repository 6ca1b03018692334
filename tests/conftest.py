"""Shared pytest fixtures: a real Dovecot IMAP server and an SMTP sink.

* ``dovecot_server`` (session): one ``servers.DovecotServer`` for the whole run.
* ``dovecot`` (function): a fresh user on that server -> ``servers.ImapAccount``
  (``.user``, ``.password``, ``.host``, ``.imap_port``, ``.imaps_port``,
  ``.cert_path``, ``.client()``, ``.append()``, ...). Users never see each other's mail.
* ``smtp_sink`` (function): a started ``servers.SmtpSink`` (plain, no AUTH).

Tests that need a server of their own (crash/restart/TLS variations) use
``with servers.DovecotServer() as srv:`` / ``with servers.SmtpSink(...) as sink:``
directly. Import with ``from servers import ...`` (this file puts tests/ on sys.path).
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid

import pytest

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:  # e.g. with --import-mode=importlib
    sys.path.insert(0, _TESTS_DIR)

from servers import DovecotServer, ImapAccount, SmtpSink  # noqa: E402

_account_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot_server():
    """One Dovecot instance for the whole session (default user alice/secret1)."""
    server = DovecotServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dovecot(dovecot_server):
    """A fresh user (unique name and password) on the shared Dovecot server."""
    if not dovecot_server.running:  # an earlier test stopped or crashed it
        dovecot_server.start()
    user = f"user{next(_account_numbers)}x{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex[:16]}"
    dovecot_server.add_user(user, password)
    yield ImapAccount(dovecot_server, user, password)
    if dovecot_server.running:
        try:
            dovecot_server.kick(user)  # drop connections the test left open
        except Exception:
            pass


@pytest.fixture
def smtp_sink():
    """A running SmtpSink on 127.0.0.1 (``.host``, ``.port``, ``.messages``, ``.wait_for()``)."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="session")
def tone_model_path(tmp_path_factory):
    """A real tone model, fitted once per session on the committed corpus (no evaluation runs)."""
    from datetime import datetime, timezone

    import sklearn

    from clientwatch.text import client_text
    from clientwatch.tone import ToneModel
    from clientwatch.training import SENTENCE_WEIGHT, build_pipeline, load_corpus

    examples, digest = load_corpus()
    pipeline = build_pipeline().fit([client_text(e.subject, e.text) for e in examples], [e.label for e in examples])
    meta = {"labels": list(pipeline.classes_), "sklearn_version": sklearn.__version__, "corpus_sha256": digest,
            "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "abusive_threshold": 0.5,
            "sentence_weight": SENTENCE_WEIGHT}
    return ToneModel(pipeline, meta).save(tmp_path_factory.mktemp("model") / "tone.joblib")
