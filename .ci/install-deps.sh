#!/bin/sh
# Install the system packages the test fixtures need (tests/servers.py):
# Dovecot's IMAP server, the openssl CLI and systemd-analyze (unit file checks). Idempotent: does nothing when
# /usr/sbin/dovecot is already present.
set -eu

if [ -x /usr/sbin/dovecot ] && command -v openssl >/dev/null 2>&1 && command -v systemd-analyze >/dev/null 2>&1; then
    echo "install-deps: dovecot, openssl and systemd-analyze present, nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
# The package's post-install tries to start the system service; on machines
# without systemd that may be refused. The tests never use that service (they
# run their own instance from their own config), so only the binary matters.
if ! $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends dovecot-imapd openssl systemd; then
    if [ -x /usr/sbin/dovecot ] && command -v openssl >/dev/null 2>&1; then
        echo "install-deps: apt-get reported an error (post-install service start?)," \
             "but dovecot and openssl are installed; continuing" >&2
    else
        exit 1
    fi
fi

test -x /usr/sbin/dovecot
echo "install-deps: installed $(/usr/sbin/dovecot --version)"
