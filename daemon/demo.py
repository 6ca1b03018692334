"""`clientwatch demo`: the whole pipeline on the bundled sample mailbox, in a temporary store."""
from __future__ import annotations

import mailbox
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import samples
from .analysis import analyze, classify_pending
from .config import parse_config
from .importer import import_path
from .report import to_csv, to_json, to_table
from .store import Store


def run_demo(model: Any | None, fmt: str = "table", now: datetime | None = None) -> str:
    """Generate the sample mailbox, import it, classify, measure, flag; return the report."""
    now = now or datetime.now(timezone.utc)
    box = samples.generate(now)
    with tempfile.TemporaryDirectory(prefix="clientwatch-demo-") as tmp:
        maildir = mailbox.Maildir(Path(tmp) / "Maildir", create=True)
        for _folder, raw in box.all_messages():
            maildir.add(raw)
        import tomllib

        config = parse_config(tomllib.loads(samples.sample_config_toml(str(Path(tmp) / "demo.db"))),
                              "<demo config>", Path(tmp), require_imap=False)
        with Store(config.storage_path) as store:
            added, bad = import_path(store, Path(tmp) / "Maildir")
            classify_pending(store, config, model, now)
            reports = analyze(store, config, now)
    if fmt == "json":
        return to_json(reports, config.thresholds.window_days)
    if fmt == "csv":
        return to_csv(reports)
    lines = [f"clientwatch demo: {added} sample messages imported ({len(box.inbox)} received, {len(box.sent)} sent, "
             f"{box.automated} automated, {bad} malformed), as of {now:%Y-%m-%d %H:%M} UTC", ""]
    lines.append(to_table(reports))
    if model is None:
        lines += ["", "tone model missing: tone columns are empty (run `clientwatch train`)"]
    lines += ["", "What the flags mean, and who the sample's ground truth says is difficult:"]
    for r in reports:
        expected = box.expected.get(r.metrics.name)
        got = {f.kind for f in r.flags}
        want = expected.expected_flags if expected else set()
        mark = "ok" if got == want else "differs"
        lines.append(f"  {r.metrics.name:<28} flags {', '.join(sorted(got)) or 'none':<22} expected "
                     f"{', '.join(sorted(want)) or 'none':<22} {mark}")
    return "\n".join(lines)
