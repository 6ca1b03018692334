"""Soak: many poll cycles in one process, as the daemon runs them, watching for leaks. Prints
figures; asserts nothing.

    python bench/soak.py [--cycles 200] [--no-alerts]

A throwaway Dovecot (tests/servers.py) starts with the bundled sample mailbox; before each
cycle 1-5 new messages arrive (client mail in INBOX, now and then my reply in Sent, every
tenth cycle an abusive message from a new client). Each cycle opens the store, runs
``cycle.run_cycle`` with the tone model (models/tone.joblib when it loads here, else none) and
an alert notifier mailing an in-process SMTP sink, and closes the store: what
``service.Service.poll`` does. RSS (VmRSS) and open descriptors are read from /proc after
the first cycle (imports, caches, the model and the TLS contexts are warm by then) and
after the last one; then ``--idle`` more cycles run with no new mail and the analysis forced,
so that a leak can be told from a working set that grows with the store.

Targets: RSS growth ≤ 10 %, no descriptor growth.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # servers.py: the test-suite's Dovecot and SMTP sink
sys.path.insert(0, str(ROOT))

from servers import DovecotServer, SmtpSink  # noqa: E402

from clientwatch import samples  # noqa: E402
from clientwatch.alerts import Notifier  # noqa: E402
from clientwatch.config import load_config  # noqa: E402
from clientwatch.cycle import run_cycle  # noqa: E402
from clientwatch.errors import ModelError  # noqa: E402
from clientwatch.store import Store  # noqa: E402
from clientwatch.tone import ToneModel  # noqa: E402

ME = samples.ME
USER, PASSWORD = "soak", "soak-secret"
CLIENTS = ["lena@northwind.example", "joe@bigcorp.example", "ewa@piekarnia.example", "hans@muster.example",
           "rick.moody77@gmail.com", "ana.k@outlook.example", "ivana@jadran-tours.example", "tom@acme.example"]
TEXTS = ["Thanks for the drafts, we like option B. Could you try it with the darker green?",
         "Any update?? It's been two hours. Send me the files now, not on Friday.",
         "Our accountant is away again, the invoice will have to wait until next month.",
         "Looks great, approved. Please go ahead with the print files.",
         "Can we move our call to 3pm? Something came up.",
         "Before you post ANYTHING, send it to me first for approval. Every single one."]
ABUSE = "You useless idiot, you ruined my launch. I will destroy your reputation online, you pathetic fraud."


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def message(sender: str, to: str, subject: str, body: str, when: datetime, mid: str,
            reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = format_datetime(when), mid
    if reply_to:
        msg["In-Reply-To"] = msg["References"] = reply_to
    msg.set_content(body)
    return bytes(msg)


def new_mail(cycle: int, rng: random.Random, now: datetime) -> list[tuple[str, bytes]]:
    """1-5 new messages for this cycle: (folder, raw)."""
    out = []
    for k in range(rng.randint(1, 5)):
        client = rng.choice(CLIENTS)
        mid = f"<soak-{cycle}-{k}@{client.split('@')[1]}>"
        when = now - timedelta(minutes=rng.randint(1, 600))
        out.append(("INBOX", message(client, ME, f"Project {rng.randint(1, 30)}", rng.choice(TEXTS), when, mid)))
        if rng.random() < 0.4:  # my reply
            out.append(("Sent", message(ME, client, "Re: project", "Thanks, on it.", when + timedelta(minutes=30),
                                        f"<re-{cycle}-{k}@studio-kvadrat.example>", reply_to=mid)))
    if cycle % 10 == 0:  # a new abusive client: an immediate alert
        client = f"angry{cycle}@gmail.com"
        out.append(("INBOX", message(client, ME, "Logo", ABUSE, now - timedelta(minutes=5), f"<angry-{cycle}@gmail.com>")))
    return out


def write_config(directory: Path, server: DovecotServer, sink: SmtpSink | None) -> Path:
    secret = directory / "imap-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    text = samples.sample_config_toml(str(directory / "state" / "clientwatch.db"), {
        "host": "127.0.0.1", "port": server.imap_port, "security": "none", "username": USER,
        "password_file": str(secret)})
    if sink is not None:
        text += ("[alerts]\n" f'to = ["{ME}"]\nfrom = "clientwatch@studio-kvadrat.example"\nsmtp_host = "127.0.0.1"\n'
                 f'smtp_port = {sink.port}\nsmtp_security = "none"\nimmediate = ["abusive"]\n')
    path = directory / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--no-alerts", action="store_true", help="no [alerts]: leave SMTP out")
    parser.add_argument("--idle", type=int, default=50, help="cycles without new mail afterwards (analysis forced)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    try:
        model = ToneModel.load()
        model_note = f"{model.path} ({model.model_id})"
    except ModelError as e:
        model, model_note = None, f"none ({e})"

    with DovecotServer(users={USER: PASSWORD}) as server, tempfile.TemporaryDirectory(prefix="cw-soak-") as tmp:
        sink = None if args.no_alerts else SmtpSink()
        if sink is not None:
            sink.start()
        try:
            box = samples.generate()
            server.append("INBOX", box.inbox, user=USER)
            server.append("Sent", box.sent, user=USER)
            config = load_config(write_config(Path(tmp), server, sink))
            notifier = Notifier(config) if sink is not None else None
            feeder = server.client(USER)  # one connection for the new mail, opened before the first figures
            times: list[float] = []
            checkpoints: list[tuple[int, int, int]] = []  # (cycle, RSS kB, descriptors)
            new = sent = 0
            start_rss = start_fds = raw_rss = 0
            raw_rss = rss_kb()
            for n in range(args.cycles + 1):
                for folder, raw in (new_mail(n, rng, datetime.now(timezone.utc)) if n else []):
                    feeder.append(folder, raw)
                # imaplib keeps every untagged answer (APPENDUID ...) of the bench's own feeding
                # connection until read; drop them, or they would count as clientwatch's memory
                feeder._imap.untagged_responses.clear()
                started = time.perf_counter()
                with Store(config.storage_path) as store:  # as Service.poll: a store per cycle
                    result = run_cycle(config, store, model, notifier)
                elapsed = time.perf_counter() - started
                if sink is not None:
                    sink.clear()  # the sink keeps what it receives; that is not clientwatch's memory
                if n == 0:  # the warm-up cycle: the sample mailbox, imports, caches, the model
                    gc.collect()
                    start_rss, start_fds = rss_kb(), open_fds()
                    first = elapsed
                    continue
                times.append(elapsed)
                if n % max(1, args.cycles // 4) == 0:
                    checkpoints.append((n, rss_kb(), open_fds()))
                new += result.new_messages
                sent += result.alerts_sent
            gc.collect()
            end_rss, end_fds = rss_kb(), open_fds()
            # then cycles without new mail but with the full analysis forced: with the data fixed,
            # any growth here would be a leak rather than a bigger working set
            for _ in range(args.idle):
                with Store(config.storage_path) as store:
                    run_cycle(config, store, model, notifier, force=True)
            gc.collect()
            idle_rss, idle_fds = rss_kb(), open_fds()
            feeder.logout()
            with Store(config.storage_path) as store:
                stored = store.count_messages()
        finally:
            if sink is not None:
                sink.stop()

    growth = 100.0 * (end_rss - start_rss) / start_rss
    rows = [
        ("cycles", f"{args.cycles} (+1 warm-up of {len(box.inbox) + len(box.sent)} messages, {first:.2f} s)"),
        ("new messages / alerts sent", f"{new} / {sent}  (store: {stored} messages)"),
        ("tone model", model_note),
        ("RSS before the first cycle", f"{raw_rss / 1024:.1f} MB"),
        ("RSS after the warm-up cycle", f"{start_rss / 1024:.1f} MB"),
        ("RSS after the last cycle", f"{end_rss / 1024:.1f} MB"),
        ("RSS growth", f"{growth:+.1f} %   (target ≤ 10 %)"),
        ("RSS / descriptors by cycle", ", ".join(f"{c}: {r / 1024:.1f} MB / {f}" for c, r, f in checkpoints)),
        (f"then {args.idle} cycles, no new mail", f"RSS {end_rss / 1024:.1f} → {idle_rss / 1024:.1f} MB "
                                                  f"({idle_rss - end_rss:+d} kB), descriptors {end_fds} → {idle_fds}"),
        ("open descriptors start / end", f"{start_fds} / {end_fds}   (target: no growth)"),
        ("cycle time median", f"{statistics.median(times) * 1000:.0f} ms"),
        ("cycle time p95", f"{percentile(times, 0.95) * 1000:.0f} ms"),
        ("cycle time max", f"{max(times) * 1000:.0f} ms"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"clientwatch soak: {args.cycles} poll cycles in one process")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    print("  verdict:", "OK" if growth <= 10 and end_fds <= start_fds else "MISSED a target")
    print(json.dumps({"cycles": args.cycles, "rss_start_kb": start_rss, "rss_end_kb": end_rss,
                      "rss_growth_pct": round(growth, 2), "fds_start": start_fds, "fds_end": end_fds,
                      "cycle_median_ms": round(statistics.median(times) * 1000, 1),
                      "cycle_p95_ms": round(percentile(times, 0.95) * 1000, 1)}))


if __name__ == "__main__":
    main()
