"""IMAP ingest speed against a real Dovecot: clientwatch's sync + analysis compared with a bare
imapclient FETCH of the same fields, the cost of a poll on an unchanged mailbox, and the peak
memory of the ingest. Prints figures; asserts nothing.

    python bench/ingest.py [--messages 20000] [--repeat 3] [--polls 20]

Targets: ingest ≥ 0.6 × the bare FETCH rate; a poll cycle on the unchanged mailbox ≤ 0.1 s;
peak RSS of the ingest ≤ 250 MB.

The mailbox: ~50 clients (some on free mail, several addresses per company), threads with
40 % replies (In-Reply-To/References, a few threaded by subject only), plain, HTML-only,
multipart/alternative and a few messages with a small attachment, 1-3 KB each, spread over
80 days; client mail in INBOX, mine in Sent. It is loaded with MULTIAPPEND (servers.append).
"""
from __future__ import annotations

import argparse
import base64
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # servers.py: the test-suite's Dovecot
sys.path.insert(0, str(ROOT))

from servers import DovecotServer  # noqa: E402

from clientwatch.analysis import analyze  # noqa: E402
from clientwatch.config import Config, parse_config  # noqa: E402
from clientwatch.cycle import run_cycle  # noqa: E402
from clientwatch.mailbox import Syncer, _quiet_logout, connect  # noqa: E402
from clientwatch.mime import HEADER_FIELDS  # noqa: E402
from clientwatch.store import Store  # noqa: E402

ME = "mara@studio-kvadrat.example"
USER, PASSWORD = "bench", "bench-secret"
FETCH_BATCH = 500
WORDS = ("the files for the new brochure are ready and we would like to review them with the team before "
         "friday please send the invoice for march as well as the updated timeline we discussed on the call "
         "der entwurf sieht gut aus bitte schicken sie uns die druckdaten bis montag danke "
         "račun smo platili jučer molim vas pošaljite nam konačne datoteke "
         "보내주신 시안 잘 받았습니다 목요일 회의 때 뵙겠습니다").split()


# --- the mailbox -----------------------------------------------------------------------------------
def _text(rng: random.Random, size: int, _lines: list[str] = []) -> str:
    """About ``size`` bytes of text: lines drawn from a pool of 3,000 random ones (fast to build)."""
    if not _lines:
        pool = random.Random(99)
        _lines.extend(" ".join(pool.choices(WORDS, k=pool.randrange(8, 14))) for _ in range(3000))
    lines, total = [], 0
    while total < size:
        line = _lines[rng.randrange(len(_lines))]
        lines.append(line)
        total += len(line.encode()) + 1
    return "\n".join(lines)


def _body(rng: random.Random, text: str) -> tuple[str, str]:
    """(content headers, body) in one of the shapes real mail has."""
    kind = rng.random()
    crlf = text.replace("\n", "\r\n")
    if kind < 0.60:
        return "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n", crlf + "\r\n"
    html = "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n")) + "</body></html>"
    if kind < 0.75:
        return "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n", html + "\r\n"
    if kind < 0.97:
        b = f"alt{rng.randrange(10**9)}"
        return (f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{b}"\r\n',
                f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{crlf}\r\n"
                f"--{b}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n"
                f"--{b}--\r\n")
    b = f"mix{rng.randrange(10**9)}"
    attachment = base64.encodebytes(rng.randbytes(600)).decode().replace("\n", "\r\n")
    return (f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{b}"\r\n',
            f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{crlf}\r\n"
            f"--{b}\r\nContent-Type: application/pdf; name=\"brief.pdf\"\r\nContent-Disposition: attachment; "
            f"filename=\"brief.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}--{b}--\r\n")


def build_mailbox(n: int, now: datetime, seed: int = 20) -> tuple[list[bytes], list[bytes]]:
    """(INBOX, Sent) with ``n`` messages in all."""
    rng = random.Random(seed)
    clients = []
    for i in range(50):
        if i % 5 == 0:  # free mail: one person, one address
            clients.append([f"client.{i}.person@gmail.com"])
        else:
            domain = f"client{i}.example"
            clients.append([f"{name}@{domain}" for name in rng.sample(["ana", "tom", "ops", "ceo", "ivana", "lena"],
                                                                        rng.randrange(1, 4))])
    start = now - timedelta(days=80)
    step = timedelta(days=80) / n
    threads: list[dict] = []
    inbox: list[bytes] = []
    sent: list[bytes] = []
    for k in range(n):
        date = start + step * k + timedelta(seconds=rng.randrange(60))
        reply = bool(threads) and rng.random() < 0.40
        if reply:
            thread = rng.choice(threads[-300:])  # answers come to recent threads
            mine = thread["last_from_client"]
            subject = ("AW: " if thread["client"] % 7 == 3 else "Re: ") + thread["subject"]
        else:
            thread = {"client": rng.randrange(50), "subject": f"Project {rng.randrange(10**5)} {rng.choice(WORDS)}",
                      "ids": [], "last_from_client": False}
            threads.append(thread)
            mine = rng.random() < 0.35
        client = clients[thread["client"]]
        sender = ME if mine else rng.choice(client)
        to = ", ".join(client) if mine else ME
        mid = f"<{k}.{rng.randrange(10**8)}@{sender.split('@')[1]}>"
        links = ""
        if reply and rng.random() < 0.93:  # a few clients' mailers drop the references
            links = f"In-Reply-To: {thread['ids'][-1]}\r\nReferences: {' '.join(thread['ids'][-10:])}\r\n"
        content, body = _body(rng, _text(rng, rng.randrange(700, 2200)))
        head = (f"From: {'Mara Horvat' if mine else 'Client Person'} <{sender}>\r\nTo: {to}\r\n"
                f"Subject: {subject if reply else thread['subject']}\r\nDate: {format_datetime(date)}\r\n"
                f"Message-ID: {mid}\r\n{links}{content}")
        (sent if mine else inbox).append((head + "\r\n" + body).encode())
        thread["ids"].append(mid)
        thread["last_from_client"] = not mine
    return inbox, sent


def make_config(server: DovecotServer, db: Path) -> Config:
    text = (f'[imap]\nhost = "127.0.0.1"\nport = {server.imap_port}\nsecurity = "none"\nusername = "{USER}"\n'
            f'password = "{PASSWORD}"\n[me]\naddresses = ["{ME}"]\ntimezone = "Europe/Zagreb"\n'
            f'[storage]\npath = "{db}"\n')
    return parse_config(tomllib.loads(text), "<bench>", db.parent)


# --- the measurements --------------------------------------------------------------------------------
def bare_fetch(server: DovecotServer) -> int:
    """A bare imapclient FETCH of the same header fields + the text, 500 UIDs per FETCH."""
    item_header = ("BODY.PEEK[HEADER.FIELDS (" + " ".join(HEADER_FIELDS) + ")]").encode()
    count = 0
    with server.client(USER, PASSWORD, timeout=120) as c:
        for folder in ("INBOX", "Sent"):
            c.select_folder(folder, readonly=True)
            uids = c.search(["UID", "1:*"])
            for i in range(0, len(uids), FETCH_BATCH):
                count += len(c.fetch(uids[i:i + FETCH_BATCH], [item_header, b"BODY.PEEK[TEXT]", b"INTERNALDATE"]))
    return count


def ingest(config: Config, now: datetime) -> tuple[int, int]:
    """clientwatch's ingest: Syncer.sync into a fresh store, then identify/thread/measure."""
    if config.storage_path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{config.storage_path}{suffix}").unlink(missing_ok=True)
    assert config.imap is not None
    with Store(config.storage_path) as store:
        client = connect(config.imap)
        try:
            result = Syncer(config.imap, store).sync(client)
        finally:
            _quiet_logout(client)
        reports = analyze(store, config, now)
    return result.new, len(reports)


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike ru_maxrss, it starts afresh at exec,
    so it is not inflated by the parent's memory from before the fork."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ingest(port: int, db: str, now: str) -> None:
    """Run in a child process, so that its peak RSS is the ingest's alone."""
    server = DovecotServer.__new__(DovecotServer)  # only .imap_port is read by make_config
    server.imap_port = port
    ingest(make_config(server, Path(db)), datetime.fromisoformat(now))
    print(f"{peak_rss_mb():.1f}")


def peak_rss_of_child_ingest(server: DovecotServer, db: Path, now: datetime) -> tuple[float, float]:
    """(peak RSS in MB of a child that runs the ingest, and of one that only imports the same modules)."""
    def run(extra: list[str]) -> float:
        done = subprocess.run([sys.executable, __file__, *extra], cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"child ingest failed with {done.returncode}:\n{done.stderr}")
        return float(done.stdout.split()[-1])
    return run(["--child-ingest", str(server.imap_port), str(db), now.isoformat()]), run(["--child-import-only"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--polls", type=int, default=20)
    ap.add_argument("--child-ingest", nargs=3, metavar=("PORT", "DB", "NOW"), help=argparse.SUPPRESS)
    ap.add_argument("--child-import-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_ingest:
        child_ingest(int(args.child_ingest[0]), args.child_ingest[1], args.child_ingest[2])
        return
    if args.child_import_only:
        print(f"{peak_rss_mb():.1f}")
        return

    now = datetime.now(timezone.utc).replace(microsecond=0)
    t = time.perf_counter()
    inbox, sent = build_mailbox(args.messages, now)
    built = time.perf_counter() - t
    total = len(inbox) + len(sent)
    size = sum(map(len, inbox)) + sum(map(len, sent))
    with DovecotServer({USER: PASSWORD}) as server, tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
        t = time.perf_counter()
        server.append("INBOX", inbox, user=USER)
        server.append("Sent", sent, user=USER)
        loaded = time.perf_counter() - t
        print(f"mailbox: {total:,} messages ({len(inbox):,} INBOX, {len(sent):,} Sent), "
              f"{size / total / 1024:.2f} KB average, built in {built:.1f} s, MULTIAPPEND in {loaded:.1f} s")
        del inbox, sent
        config = make_config(server, Path(tmp) / "bench.db")

        bare_fetch(server)  # warm Dovecot's caches and indexes once, for both contenders
        bare, ours = [], []
        clients = 0
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            seconds, count = timed(bare_fetch, server)
            assert count == total
            bare.append(seconds)
            seconds, (count, clients) = timed(ingest, config, now)
            assert count == total, count
            ours.append(seconds)
        with Store(config.storage_path) as store:
            run_cycle(config, store, None, now=now)  # the first poll after an ingest re-analyses once
            polls = [run_cycle(config, store, None, now=now).seconds for _ in range(args.polls)]
        rss, rss_base = peak_rss_of_child_ingest(server, Path(tmp) / "child.db", now)

    bare_rate, our_rate = total / statistics.median(bare), total / statistics.median(ours)
    poll = statistics.median(polls)
    rows = [
        ("bare imapclient FETCH (500 UIDs/FETCH)", f"{bare_rate:,.0f} msg/s", f"{statistics.median(bare):.2f} s", ""),
        ("clientwatch ingest (sync + analysis)", f"{our_rate:,.0f} msg/s", f"{statistics.median(ours):.2f} s",
         f"{clients} clients"),
        ("ratio ingest / bare", f"{our_rate / bare_rate:.2f}", "", "target >= 0.60"),
        ("poll cycle, unchanged mailbox", f"{poll * 1000:.1f} ms", f"max {max(polls) * 1000:.1f} ms",
         "target <= 100 ms"),
        ("peak RSS of the ingest (child)", f"{rss:.0f} MB", f"{rss_base:.0f} MB import only", "target <= 250 MB"),
    ]
    print(f"\nmedian of {args.repeat} runs ({args.polls} for the poll), {total:,} messages, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) if i in (0, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    print(f"\nraw seconds: bare {', '.join(f'{s:.2f}' for s in bare)}; ingest {', '.join(f'{s:.2f}' for s in ours)}")


if __name__ == "__main__":
    main()
