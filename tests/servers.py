"""Real servers for the test-suite, all on 127.0.0.1.

* ``DovecotServer`` -- a throwaway Dovecot 2.3 IMAP instance (plain+STARTTLS and
  implicit-TLS listeners, maildir, self-signed cert) run as a child process from its
  own config; nothing from /etc/dovecot is used and no system service is touched.
* ``SmtpSink`` -- an in-process aiosmtpd server that records what it receives and
  can be told to refuse (4xx/5xx), require AUTH and offer STARTTLS.
* ``free_port()``, ``silent_listener()``, ``make_self_signed_cert()``.
* ``ImapAccount`` -- one user on a ``DovecotServer`` (what the ``dovecot`` fixture yields).

Background, measured numbers and pitfalls: /work/shared/recipes/dovecot.md.
System requirements: ``.ci/install-deps.sh`` (dovecot-imapd, openssl).
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import datetime as _dt
import email.policy
import grp
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Iterable, Sequence

__all__ = [
    "DovecotServer",
    "DoveadmError",
    "ImapAccount",
    "SmtpSink",
    "free_port",
    "silent_listener",
    "make_self_signed_cert",
]

HOST = "127.0.0.1"
_SBIN_PATH = "/usr/sbin:/usr/local/sbin:/sbin:" + os.environ.get("PATH", "")
DOVECOT_BIN = shutil.which("dovecot", path=_SBIN_PATH) or "/usr/sbin/dovecot"
DOVEADM_BIN = shutil.which("doveadm", path=_SBIN_PATH) or "/usr/bin/doveadm"
MULTIAPPEND_CHUNK = 500

_OWNER_PID = os.getpid()


# --------------------------------------------------------------------------- helpers


_handed_out_ports: set[int] = set()
_port_lock = threading.Lock()


def free_port() -> int:
    """A currently unused TCP port on 127.0.0.1 (never the same one twice per process)."""
    with _port_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((HOST, 0))
                port = s.getsockname()[1]
            if port not in _handed_out_ports:
                _handed_out_ports.add(port)
                return port
    return port


def silent_listener() -> tuple[socket.socket, int]:
    """A listening socket whose connections complete (kernel backlog) but never get a byte.

    Use it for connect/read timeout tests. The caller closes the socket.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock, sock.getsockname()[1]


def _scratch_base() -> str:
    """/dev/shm when usable (fast, stable), else /tmp. Both are world-traversable."""
    for candidate in ("/dev/shm", "/tmp"):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return tempfile.gettempdir()


def make_self_signed_cert(directory: str) -> tuple[str, str]:
    """Create ``cert.pem``/``key.pem`` in *directory* with the ``openssl`` CLI.

    Self-signed (usable as a CA file for verification), SAN DNS:localhost and
    IP:127.0.0.1, EC P-256 key (fast to generate). Returns (cert_path, key_path).
    """
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    cmd = [
        "openssl", "req", "-x509", "-nodes", "-days", "3650",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", key_path, "-out", cert_path,
        "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"openssl failed ({res.returncode}): {res.stderr.strip()}")
    os.chmod(cert_path, 0o644)
    os.chmod(key_path, 0o600)
    return cert_path, key_path


_cert_cache: tuple[str, str] | None = None
_cert_cache_lock = threading.Lock()


def _cached_cert() -> tuple[str, str]:
    """One cert/key pair per process, created on first use (then copied around)."""
    global _cert_cache
    with _cert_cache_lock:
        if _cert_cache is None or not os.path.exists(_cert_cache[0]):
            d = tempfile.mkdtemp(prefix=f"clientwatch-cert-{os.getpid()}-", dir=_scratch_base())
            _cleanup_dirs.add(d)
            _cert_cache = make_self_signed_cert(d)
        return _cert_cache


def _seqset(uids: Iterable[int]) -> str:
    """[1,2,3,7,9,10] -> '1:3,7,9:10'."""
    nums = sorted(set(int(u) for u in uids))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}:{nums[j]}")
        i = j + 1
    return ",".join(parts)


# ------------------------------------------------------------ process bookkeeping


def _proc_info(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of *pid*, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _live_instance_pids(pgid: int | None, title_prefix: str) -> list[int]:
    """Non-zombie processes of one instance: in its process group or carrying its title."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        info = _proc_info(pid)
        if info is None or info[0] in ("Z", "X"):
            continue
        if (pgid is not None and info[2] == pgid) or _cmdline(pid).startswith(title_prefix):
            found.append(pid)
    return found


def _alive(pid: int) -> bool:
    info = _proc_info(pid)
    return info is not None and info[0] not in ("Z", "X")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


_STALE_RE = re.compile(r"^clientwatch-(?:dovecot|cert)-(\d+)-")
_swept = False


def _sweep_stale_dirs() -> None:
    """Remove instance dirs left by test processes that were SIGKILLed (once per process)."""
    global _swept
    if _swept:
        return
    _swept = True
    base = _scratch_base()
    try:
        entries = os.listdir(base)
    except OSError:
        return
    for entry in entries:
        m = _STALE_RE.match(entry)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # owner still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        path = os.path.join(base, entry)
        in_use = any(path in _cmdline(int(p)) for p in os.listdir("/proc") if p.isdigit())
        if not in_use:
            shutil.rmtree(path, ignore_errors=True)


_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _die_with_parent() -> None:  # runs in the forked child before exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# Everything still running / on disk at interpreter exit gets cleaned up.
_live_servers: set["DovecotServer"] = set()
_live_sinks: set["SmtpSink"] = set()
_cleanup_dirs: set[str] = set()


@atexit.register
def _cleanup_at_exit() -> None:
    if os.getpid() != _OWNER_PID:  # forked child: not ours to clean
        return
    for server in list(_live_servers):
        try:
            server.close()
        except Exception:
            try:
                server.crash()
            except Exception:
                pass
    for sink in list(_live_sinks):
        try:
            sink.stop()
        except Exception:
            pass
    for d in list(_cleanup_dirs):
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------------ Dovecot


class DoveadmError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return (f"doveadm {' '.join(self.cmd[3:])!s} failed with exit code {self.returncode}: "
                f"{(self.stderr or '').strip() or (self.output or '').strip()}")


_CONFIG_TEMPLATE = """\
# --- throwaway test instance (tests/servers.py); nothing from /etc/dovecot is read ---
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = {instance_name}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
verbose_proctitle = no
#mail_debug = yes
#auth_debug = yes

default_internal_user = {run_user}
default_internal_group = {run_group}
default_login_user = {run_user}
mail_uid = {run_user}
mail_gid = {run_group}
first_valid_uid = 1
first_valid_gid = 1

mail_home = {d}/mail/%n
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
mail_fsync = never
auth_failure_delay = 0

disable_plaintext_auth = no
auth_mechanisms = plain login
# One passwd-file per user: Dovecot re-stats an already-open passwd-file at most
# once a second, so a user added to a shared file right after a login would stay
# unknown for up to 1 s. A file it has never opened is read on the first lookup.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/users/%n
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/users/%n
}}

ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
{ssl_dh}
hostname = mail.example.test

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # not created -> auth can't track failures -> no 2..15 s penalty after a bad password
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


class DovecotServer:
    """A private Dovecot IMAP server on 127.0.0.1.

    ``start()`` picks two free ports on first start (``imap_port``: plain + STARTTLS,
    ``imaps_port``: implicit TLS) and keeps them across ``restart()``/``crash()``+``start()``;
    mail (maildir) lives in ``directory`` and survives restarts. ``close()`` (or leaving
    the ``with`` block) stops the server and deletes the directory.

    The doveadm-based helpers (``set_uidvalidity``, ``expunge``, ``kick`` ...) need the
    server running.
    """

    host = HOST

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users: dict[str, str] = dict(users) if users is not None else {"alice": "secret1"}
        for user, password in self.users.items():
            self._check_credentials(user, password)
        self.imap_port: int | None = None
        self.imaps_port: int | None = None
        self.directory: str | None = None
        self.cert_path: str | None = None
        self.key_path: str | None = None
        self.log_path: str | None = None
        self.config_path: str | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.RLock()
        self._closed = False
        if os.geteuid() == 0:
            # Dovecot refuses mail access as root: use the package's user.
            self._run_user, self._run_group = "dovecot", "dovecot"
        else:
            self._run_user = pwd.getpwuid(os.geteuid()).pw_name
            self._run_group = grp.getgrgid(os.getegid()).gr_name

    # ---------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def instance_name(self) -> str:
        return f"dovecot-test-{self.imap_port}"

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("DovecotServer was closed")
            if self.running:
                return
            if self._proc is not None:  # master died on its own: clear leftovers
                self._kill_all()
            if self.directory is None:
                self._prepare_directory()
            fresh_ports = self.imap_port is None
            for attempt in range(3):
                if self.imap_port is None:
                    self.imap_port, self.imaps_port = free_port(), free_port()
                try:
                    self._launch()
                    return
                except _AddressInUse:
                    if not fresh_ports or attempt == 2:
                        raise
                    self.imap_port = self.imaps_port = None

    def stop(self) -> None:
        """Kick all sessions, terminate the master; returns when the ports are closed."""
        with self._lock:
            if self._proc is None:
                return
            if self._proc.poll() is None:
                try:
                    self.kick("*")
                except Exception:
                    pass
                self._terminate_master()
            self._wait_instance_gone(timeout=10)
            self._proc = None
            self._wait_ports_closed()
            _live_servers.discard(self)

    def _terminate_master(self) -> None:
        """SIGTERM the master; speed up its shutdown; return once it has exited.

        Left alone, the master needs ~1.1 s: it kills its services one by one and then
        polls (100 ms steps, up to 1 s) for them to report. So once it is in shutdown
        (20 ms after the SIGTERM; it won't respawn anything then) its services get a
        SIGTERM too, and a master that lingers 150 ms after its last child is gone
        (it only waits at that point; it holds no data) gets a SIGKILL.
        Typical stop: 0.1-0.3 s.
        """
        proc = self._proc
        assert proc is not None
        proc.terminate()
        try:
            proc.wait(timeout=0.02)
            return
        except subprocess.TimeoutExpired:
            pass
        self._signal_instance(signal.SIGTERM, exclude=proc.pid)
        deadline = time.monotonic() + 15
        orphaned_since = None
        while proc.poll() is None:
            now = time.monotonic()
            if any(p != proc.pid for p in self._instance_pids()):
                orphaned_since = None
            elif orphaned_since is None:
                orphaned_since = now
            if now > deadline or (orphaned_since is not None and now - orphaned_since > 0.15):
                proc.kill()
                break
            time.sleep(0.01)
        proc.wait()

    def crash(self) -> None:
        """Hard crash: SIGKILL the master first, then all its processes (no goodbyes)."""
        with self._lock:
            if self._proc is None:
                return
            self._kill_all()
            self._proc = None
            self._wait_ports_closed()
            _live_servers.discard(self)

    def restart(self) -> None:
        with self._lock:
            self.stop()
            self.start()

    def close(self) -> None:
        """Stop and delete the instance directory (idempotent)."""
        with self._lock:
            try:
                self.stop()
            except Exception:
                self.crash()
            self._closed = True
            _live_servers.discard(self)
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                _cleanup_dirs.discard(self.directory)

    def __enter__(self) -> "DovecotServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"<DovecotServer {state} imap={self.host}:{self.imap_port} "
                f"imaps={self.host}:{self.imaps_port} dir={self.directory}>")

    # ------------------------------------------------------------------ users

    @staticmethod
    def _check_credentials(user: str, password: str) -> None:
        if not _USER_RE.match(user or ""):
            raise ValueError(f"unusable user name {user!r} (letters, digits, ._+- only)")
        if not password or any(ch in password for ch in ":\n\r\0"):
            raise ValueError(f"unusable password {password!r}")

    def add_user(self, user: str, password: str) -> None:
        """Add a user; usable for login immediately, also while running.

        (Changing the password of a user who logged in less than a second ago may
        take up to 1 s to be seen: Dovecot re-stats a known passwd-file once a second.)
        """
        self._check_credentials(user, password)
        with self._lock:
            self.users[user] = password
            if self.directory is not None:
                self._write_user(user)

    def _write_user(self, user: str) -> None:
        assert self.directory is not None
        path = os.path.join(self.directory, "users", user)
        tmp = os.path.join(self.directory, "users", f".{user}.tmp")
        with open(tmp, "w") as f:
            f.write(f"{user}:{{PLAIN}}{self.users[user]}::::::\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic: a login never sees a half-written file

    def _write_users(self) -> None:
        for user in self.users:
            self._write_user(user)

    # --------------------------------------------------------------- internals

    def _prepare_directory(self) -> None:
        _sweep_stale_dirs()
        d = tempfile.mkdtemp(prefix=f"clientwatch-dovecot-{os.getpid()}-", dir=_scratch_base())
        os.chmod(d, 0o755)  # mkdtemp gives 0700: the mail user must traverse it
        _cleanup_dirs.add(d)
        self.directory = d
        for sub in ("run", "state", "mail", "users"):
            os.mkdir(os.path.join(d, sub), 0o755)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self._run_user)
            os.chown(os.path.join(d, "mail"), pw.pw_uid, grp.getgrnam(self._run_group).gr_gid)
        src_cert, src_key = _cached_cert()
        self.cert_path = os.path.join(d, "cert.pem")
        self.key_path = os.path.join(d, "key.pem")
        shutil.copyfile(src_cert, self.cert_path)
        shutil.copyfile(src_key, self.key_path)
        os.chmod(self.cert_path, 0o644)
        os.chmod(self.key_path, 0o600)
        self.log_path = os.path.join(d, "dovecot.log")
        self.config_path = os.path.join(d, "dovecot.conf")
        self._write_users()

    def _write_config(self) -> None:
        assert self.directory is not None
        dh = "/usr/share/dovecot/dh.pem"
        text = _CONFIG_TEMPLATE.format(
            d=self.directory,
            instance_name=self.instance_name,
            run_user=self._run_user,
            run_group=self._run_group,
            imap_port=self.imap_port,
            imaps_port=self.imaps_port,
            ssl_dh=f"ssl_dh = <{dh}" if os.path.exists(dh) else "",
        )
        with open(self.config_path, "w") as f:
            f.write(text)
        os.chmod(self.config_path, 0o644)

    def _launch(self) -> None:
        assert self.directory is not None
        self._write_config()
        self._write_users()
        # Stale sockets from a crashed run make the next start slow or fail.
        run_dir = os.path.join(self.directory, "run")
        shutil.rmtree(run_dir, ignore_errors=True)
        os.mkdir(run_dir, 0o755)
        startup_err = os.path.join(self.directory, "startup.err")
        use_pdeathsig = threading.current_thread() is threading.main_thread()
        with open(startup_err, "wb") as err:
            # stdio must not be inherited pipes (dovecot keeps them open);
            # own session: Ctrl-C in the terminal doesn't hit it, and crash() can
            # address the whole process group.
            self._proc = subprocess.Popen(
                [DOVECOT_BIN, "-F", "-c", self.config_path],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                close_fds=True, start_new_session=True,
                preexec_fn=_die_with_parent if use_pdeathsig else None,
            )
        _live_servers.add(self)
        try:
            self._wait_ready(timeout=15)
        except BaseException:
            self._kill_all()
            self._proc = None
            _live_servers.discard(self)
            raise

    def _wait_ready(self, timeout: float) -> None:
        """Wait for the IMAP greeting on the plain port and a TCP accept on the TLS port."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        greeted = tls_open = False
        while True:
            rc = self._proc.poll()
            if rc is not None:
                details = self._failure_details()
                if "Address already in use" in details:
                    raise _AddressInUse(details)
                raise RuntimeError(f"dovecot exited with {rc} during startup:\n{details}")
            if not greeted:
                try:
                    with socket.create_connection((HOST, self.imap_port), timeout=2) as s:
                        greeted = s.recv(64).startswith(b"* OK")
                except OSError:
                    pass
            if greeted and not tls_open:
                tls_open = _port_open(self.imaps_port)
            if greeted and tls_open:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dovecot not ready after {timeout}s:\n{self._failure_details()}")
            time.sleep(0.005)

    def _failure_details(self) -> str:
        out = []
        if self.directory is not None:
            try:
                with open(os.path.join(self.directory, "startup.err"), errors="replace") as f:
                    out.append(f.read().strip())
            except OSError:
                pass
        out.append(self.log_tail(30))
        return "\n".join(x for x in out if x)

    def log_tail(self, lines: int = 50) -> str:
        """The last lines of dovecot.log (handy in assertion messages)."""
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _kill_all(self) -> None:
        """SIGKILL master first (so it can't respawn anything), then the rest; reap."""
        proc = self._proc
        if proc is None:
            return
        proc.kill()  # (Popen.kill() is a no-op once the master has been reaped)
        proc.wait()
        self._wait_instance_gone(timeout=10, kill_first=True)

    def _instance_pids(self) -> list[int]:
        pgid = self._proc.pid if self._proc is not None else None
        return _live_instance_pids(pgid, self.instance_name + "/")

    def _wait_instance_gone(self, timeout: float, kill_first: bool = False) -> None:
        """Wait until every process of this instance is dead (or a zombie)."""
        if kill_first:
            self._signal_instance(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        escalated = kill_first
        while True:
            pids = self._instance_pids()
            if not pids:
                return
            if time.monotonic() > deadline:
                if escalated:
                    raise RuntimeError(f"dovecot processes {pids} would not die")
                self._signal_instance(signal.SIGKILL)
                escalated = True
                deadline = time.monotonic() + timeout
            time.sleep(0.01)

    def _signal_instance(self, sig: int, exclude: int | None = None) -> None:
        for pid in self._instance_pids():
            if pid == exclude:
                continue
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _wait_ports_closed(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        for port in (self.imap_port, self.imaps_port):
            while port is not None and _port_open(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"port {port} still open after stopping dovecot")
                time.sleep(0.01)

    # ----------------------------------------------------------------- doveadm

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c CONF args...``; return stdout, raise DoveadmError on failure."""
        if self.config_path is None:
            raise RuntimeError("DovecotServer was never started")
        cmd = [DOVEADM_BIN, "-c", self.config_path, *args]
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=60)
        if res.returncode != 0:
            raise DoveadmError(res.returncode, cmd, res.stdout, res.stderr)
        return res.stdout

    def session_pids(self, user: str = "*") -> list[int]:
        """PIDs of the logged-in IMAP sessions (of *user*, or all)."""
        if not self.running:
            return []
        args = ["who", "-1"] + ([] if user == "*" else [user])
        try:
            out = self.doveadm(*args)
        except DoveadmError:
            return []
        pids = []
        for line in out.splitlines()[1:]:  # header: username proto pid ip
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                pids.append(int(fields[2]))
        return pids

    def kick(self, user: str = "*") -> None:
        """Disconnect the sessions of *user* (``"*"`` = everyone); the server stays up.

        Returns once those session processes are gone, so a connected client's next
        command raises ``IMAPClientAbortError``.
        """
        pids = self.session_pids(user)
        if not pids:
            return
        try:
            self.doveadm("kick", user)
        except DoveadmError:
            pass  # raced with a logout: nothing left to kick
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids):
            if time.monotonic() > deadline:
                for p in pids:
                    if _alive(p):
                        os.kill(p, signal.SIGKILL)
                break
            time.sleep(0.005)

    # -------------------------------------------------------------- mail helpers

    def _password(self, user: str, password: str | None) -> str:
        if password is not None:
            return password
        try:
            return self.users[user]
        except KeyError:
            raise KeyError(f"unknown user {user!r}; add_user() it first") from None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts (only) this server's certificate."""
        return ssl.create_default_context(cafile=self.cert_path)

    def client(self, user: str = "alice", password: str | None = None, *,
               timeout: float = 10.0):
        """A logged-in plain (``ssl=False``) IMAPClient; use as a context manager or logout()."""
        import imapclient

        c = imapclient.IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        try:
            c.login(user, self._password(user, password))
        except BaseException:
            try:
                c.shutdown()
            except Exception:
                pass
            raise
        return c

    def append(self, folder: str, messages: Sequence[bytes | str], user: str = "alice",
               flags: Sequence[bytes | str] = (), msg_time: _dt.datetime | None = None) -> None:
        """Append *messages* to *folder* (created if missing) via IMAP.

        Uses MULTIAPPEND in chunks of 500 (O(n) per command instead of O(n^2)).
        """
        messages = list(messages)
        with self.client(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            if not messages:
                return
            if b"MULTIAPPEND" in c.capabilities():
                items = []
                for m in messages:
                    item = {"msg": m}
                    if flags:
                        item["flags"] = list(flags)
                    if msg_time is not None:
                        item["date"] = msg_time
                    items.append(item)
                for k in range(0, len(items), MULTIAPPEND_CHUNK):
                    c.multiappend(folder, items[k:k + MULTIAPPEND_CHUNK])
            else:
                for m in messages:
                    c.append(folder, m, flags=tuple(flags), msg_time=msg_time)

    def create_folder(self, name: str, user: str = "alice") -> None:
        self.doveadm("mailbox", "create", "-u", user, name)

    def delete_folder(self, name: str, user: str = "alice") -> None:
        """Delete (with its messages) and unsubscribe; a session with it selected is dropped."""
        self.doveadm("mailbox", "delete", "-s", "-u", user, name)

    def set_uidvalidity(self, folder: str, value: int, user: str = "alice") -> None:
        """Server-side UIDVALIDITY change (UIDs/UIDNEXT unchanged); selecting sessions are dropped."""
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(int(value)), folder)

    def expunge(self, folder: str, uids: Sequence[int], user: str = "alice") -> None:
        uids = list(uids)
        for k in range(0, len(uids), 2000):
            self.doveadm("expunge", "-u", user, "mailbox", folder, "uid", _seqset(uids[k:k + 2000]))

    def status(self, folder: str, user: str = "alice") -> dict[str, int]:
        """messages, uidnext, uidvalidity, highestmodseq, unseen of *folder* (via doveadm)."""
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user,
                           "messages uidnext uidvalidity highestmodseq unseen", folder)
        result = {}
        for part in out.split():
            key, _, value = part.partition("=")
            if value.isdigit():
                result[key] = int(value)
        return result

    def message_count(self, folder: str, user: str = "alice") -> int:
        return self.status(folder, user)["messages"]


_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


class _AddressInUse(RuntimeError):
    pass


@dataclasses.dataclass
class ImapAccount:
    """One user on a DovecotServer, with the server helpers bound to that user."""

    server: DovecotServer
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def imap_port(self) -> int:
        return self.server.imap_port

    @property
    def imaps_port(self) -> int:
        return self.server.imaps_port

    @property
    def cert_path(self) -> str:
        return self.server.cert_path

    def ssl_context(self) -> ssl.SSLContext:
        return self.server.ssl_context()

    def client(self, **kwargs):
        return self.server.client(self.user, self.password, **kwargs)

    def append(self, folder: str, messages: Sequence[bytes | str],
               flags: Sequence[bytes | str] = (), msg_time: _dt.datetime | None = None) -> None:
        self.server.append(folder, messages, user=self.user, flags=flags, msg_time=msg_time)

    def create_folder(self, name: str) -> None:
        self.server.create_folder(name, user=self.user)

    def delete_folder(self, name: str) -> None:
        self.server.delete_folder(name, user=self.user)

    def set_uidvalidity(self, folder: str, value: int) -> None:
        self.server.set_uidvalidity(folder, value, user=self.user)

    def expunge(self, folder: str, uids: Sequence[int]) -> None:
        self.server.expunge(folder, uids, user=self.user)

    def status(self, folder: str) -> dict[str, int]:
        return self.server.status(folder, user=self.user)

    def message_count(self, folder: str) -> int:
        return self.server.message_count(folder, user=self.user)

    def kick(self) -> None:
        self.server.kick(self.user)

    def doveadm(self, *args: str) -> str:
        return self.server.doveadm(*args)


# ----------------------------------------------------------------------- SMTP sink


class _DropDeprecationNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_noise_filter_installed = False


class _SinkHandler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.require_auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        refusal = self.sink._refusal("MAIL")
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.sink._refusal("RCPT")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = self.sink._refusal("DATA")
        if refusal:
            return refusal
        self.sink._record(envelope, session)
        return "250 2.0.0 OK: queued by test sink"


class SmtpSink:
    """In-process SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives.

    * ``messages``: parsed ``EmailMessage`` s (policy=email.policy.default, CRLF
      turned into LF first); ``envelopes``: matching ``(mail_from, rcpt_tos)``;
      ``raw``: the bytes received (CRLF);
      ``auth_logins``: the user each message was sent as (None without AUTH).
    * ``tls_cert``/``tls_key``: offer STARTTLS (not required unless ``require_starttls``).
    * ``require_auth=(user, password)``: AUTH PLAIN/LOGIN offered and required before
      MAIL (``530`` otherwise); wrong credentials get ``535 5.7.8``. AUTH is offered
      over plain text only when ``auth_require_tls`` is false, which is the default
      when there is no TLS (with TLS it defaults to true: STARTTLS first).
    * ``refuse(code)``: answer every DATA (or ``stage="RCPT"``/``"MAIL"``) with *code*.
    * ``stop()``/``start()`` keep the port.
    """

    host = HOST

    def __init__(self, port: int | None = None, tls_cert: str | None = None,
                 tls_key: str | None = None, require_auth: tuple[str, str] | None = None,
                 *, auth_require_tls: bool | None = None, require_starttls: bool = False) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        self.port: int | None = port
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.require_auth = tuple(require_auth) if require_auth is not None else None
        self.auth_require_tls = (tls_cert is not None) if auth_require_tls is None else auth_require_tls
        self.require_starttls = require_starttls
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.raw: list[bytes] = []
        self.auth_logins: list[str | None] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self._cond = threading.Condition()
        self._refuse: tuple[str, str] | None = None  # (stage, reply)
        self._controller = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        global _noise_filter_installed
        if not _noise_filter_installed:
            logging.getLogger("mail.log").addFilter(_DropDeprecationNoise())
            _noise_filter_installed = True
        if self._controller is not None:
            return
        if self.port is None:
            self.port = free_port()
        kwargs = {}
        if self.tls_cert is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.tls_cert, self.tls_key)
            kwargs["tls_context"] = ctx
            kwargs["require_starttls"] = self.require_starttls
        if self.require_auth is not None:
            kwargs["authenticator"] = self._authenticate
        # AUTH is enforced in handle_MAIL rather than with auth_required=True, which
        # warns (UserWarning) on every connection when combined with plain-text AUTH.
        kwargs["auth_require_tls"] = self.auth_require_tls
        deadline = time.monotonic() + 5
        while True:
            controller = Controller(
                _SinkHandler(self), hostname=HOST, port=self.port,
                server_hostname="sink.example.test",  # avoids a slow getfqdn()
                ready_timeout=5, **kwargs)
            try:
                controller.start()
                break
            except OSError:
                try:
                    controller.stop(no_assert=True)
                except Exception:
                    pass
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._controller = controller
        _live_sinks.add(self)

    def stop(self) -> None:
        if self._controller is None:
            return
        try:
            self._controller.stop()
        finally:
            self._controller = None
            _live_sinks.discard(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "SmtpSink":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SmtpSink {self.host}:{self.port} messages={len(self.messages)}>"

    # ---------------------------------------------------------------- behaviour

    def refuse(self, code: int | None, text: str | None = None, stage: str = "DATA") -> None:
        """While set, every DATA (or RCPT/MAIL with *stage*) is answered with *code*.

        ``refuse(None)`` accepts again. smtplib raises SMTPDataError for DATA,
        SMTPRecipientsRefused for RCPT, SMTPSenderRefused for MAIL.
        """
        if code is None:
            self._refuse = None
            return
        stage = stage.upper()
        if stage not in ("MAIL", "RCPT", "DATA"):
            raise ValueError(f"stage must be MAIL, RCPT or DATA, not {stage!r}")
        code = int(code)
        if not 400 <= code <= 599:
            raise ValueError(f"refusal code must be 4xx or 5xx, not {code}")
        if text is None:
            text = ("4.3.0 Temporarily refused by test sink" if code < 500
                    else "5.7.1 Refused by test sink")
        self._refuse = (stage, f"{code} {text}")

    def _refusal(self, stage: str) -> str | None:
        current = self._refuse
        return current[1] if current is not None and current[0] == stage else None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = False
        login = None
        if mechanism in ("PLAIN", "LOGIN") and isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            user, password = self.require_auth
            ok = (auth_data.login == user.encode("utf-8")
                  and auth_data.password == password.encode("utf-8"))
        with self._cond:
            self.auth_attempts.append((login or "", ok))
        if ok:
            return AuthResult(success=True, auth_data=login)
        # handled=False: aiosmtpd sends "535 5.7.8"; the default (handled=True) sends nothing.
        return AuthResult(success=False, handled=False)

    def _record(self, envelope, session) -> None:
        data = envelope.original_content
        if data is None:
            data = envelope.content if isinstance(envelope.content, bytes) else \
                (envelope.content or "").encode("utf-8", "surrogateescape")
        # Parsed with LF line endings (so get_content() gives "...\n"); raw keeps CRLF.
        msg = BytesParser(policy=email.policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
        with self._cond:
            self.raw.append(data)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.auth_logins.append(session.auth_data if session.authenticated else None)
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least *count* messages arrived; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(
                    f"SmtpSink got {len(self.messages)} message(s), expected {count} "
                    f"within {timeout}s")
            return list(self.messages)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()
            self.envelopes.clear()
            self.raw.clear()
            self.auth_logins.clear()
            self.auth_attempts.clear()
