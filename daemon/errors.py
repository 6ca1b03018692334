"""The one exception hierarchy of clientwatch, with the exit code each class maps to.

Exit codes (SPEC): 0 success, 1 unexpected error, 2 usage, 3 configuration error,
4 mail server or network failure.
"""
from __future__ import annotations


class ClientwatchError(Exception):
    """Base of every error clientwatch raises on purpose; exit code 1."""

    exit_code = 1


class ConfigError(ClientwatchError):
    """The configuration is missing, unreadable or invalid; fatal at start; exit code 3."""

    exit_code = 3


class SecretError(ConfigError):
    """A password or token could not be read from its configured source; exit code 3."""


class ModelError(ClientwatchError):
    """The tone model file is missing, unsafe or from another scikit-learn; exit code 3."""

    exit_code = 3


class StoreError(ClientwatchError):
    """The SQLite store cannot be opened, migrated or written (read-only, full disk); exit code 1."""


class MailError(ClientwatchError):
    """A mail server or the network failed (connect, TLS, login, timeout); exit code 4."""

    exit_code = 4


class ImapError(MailError):
    """The IMAP server failed or refused us; exit code 4."""


class AuthError(ImapError):
    """The IMAP or SMTP server refused our credentials; exit code 4."""


class SmtpError(MailError):
    """The SMTP server failed or refused an alert; exit code 4."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class InputError(ClientwatchError):
    """A file given on the command line (mbox, Maildir, JSON Lines) cannot be read; exit code 2."""

    exit_code = 2
