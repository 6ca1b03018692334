"""The command line: parse arguments, call the library, turn our errors into exit codes.

Nothing else in clientwatch prints for the user or exits.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import ClientwatchError, ConfigError, ModelError

log = logging.getLogger("clientwatch")


def _out(text: str = "") -> None:
    sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # third-party protocol loggers write whole messages at DEBUG: keep them quiet whatever our level
    for noisy in ("imapclient", "imapclient.imaplib", "mail.log", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _config(args: argparse.Namespace, require_imap: bool = True) -> Any:
    from .config import load_config

    return load_config(args.config, require_imap=require_imap)


def _model(config: Any | None = None, required: bool = True) -> Any:
    from .tone import ToneModel

    path = getattr(config, "model_path", None) if config is not None else None
    try:
        return ToneModel.load(path)
    except ModelError as e:
        if required:
            raise
        # say why (missing, damaged, another scikit-learn, unsafe mode): each has its own fix
        log.warning("no usable tone model (%s): tone columns stay empty", e)
        return None


def _print_reports(reports: list[Any], fmt: str, window_days: int) -> None:
    from .report import to_csv, to_json, to_table

    if fmt == "json":
        _out(to_json(reports, window_days))
    elif fmt == "csv":
        _out(to_csv(reports))
    else:
        _out(to_table(reports))


# --- commands ----------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from .mailbox import Syncer, _quiet_logout, connect

    config = _config(args)
    _out(f"config: {config.path}")
    imap = config.imap
    _out(f"IMAP: {imap.username} at {imap.host}:{imap.port} ({imap.security})")
    client = connect(imap)
    try:
        watched, sent = Syncer(imap, None).folders(client)  # type: ignore[arg-type]
        for name in watched:
            try:
                status = client.folder_status(name, [b"MESSAGES"])
                _out(f"  watch {name}: {status[b'MESSAGES']} messages" + ("  (Sent)" if name == sent else ""))
            except Exception as e:  # a missing folder is reported, not fatal, in check
                _out(f"  watch {name}: MISSING on the server ({e.__class__.__name__}); fix imap.folders")
        if sent is None:
            _out("  Sent folder: not found; set imap.sent_folder, or latency cannot be measured")
    finally:
        _quiet_logout(client)
    _out("IMAP login: ok")
    if config.alerts:
        from .alerts import check_smtp

        check_smtp(config.alerts)
        _out(f"SMTP: {config.alerts.smtp_host}:{config.alerts.smtp_port} ({config.alerts.smtp_security}): ok; "
             f"alerts to {', '.join(config.alerts.to)}")
    else:
        _out("SMTP: no [alerts] table: nothing will be mailed")
    model = _model(config, required=False)
    _out(f"tone model: {model.path} (trained {model.meta.get('trained_at')})" if model else "tone model: MISSING")
    _out(f"me: {', '.join(config.me.addresses)} in {config.me.timezone.key}")
    _out(f"clients: {len(config.clients)} configured; auto-discovery {'on' if config.discovery_auto else 'off'}")
    _out(f"store: {config.storage_path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .store import Store

    config = _config(args)
    model = _model(config, required=False)
    if args.once:
        from .alerts import Notifier
        from .cycle import run_cycle

        notifier = Notifier(config) if config.alerts else None
        with Store(config.storage_path) as store:
            result = run_cycle(config, store, model, notifier)
        _out(f"cycle: {result.summary()}")
        return 0
    from .service import Service

    return Service(config, model).run()


def cmd_digest(args: argparse.Namespace) -> int:
    from .alerts import Notifier
    from .store import Store

    config = _config(args, require_imap=False)
    if not config.alerts:
        raise ConfigError(f"{config.path}: no [alerts] table, so there is nowhere to mail the digest")
    with Store(config.storage_path) as store:
        notifier = Notifier(config)
        queued = notifier.queue_digest(store, force=True)
        sent = notifier.flush(store)
    _out(f"digest: {queued} queued, {sent} sent")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .report import alerts_summary, to_json, to_table
    from .store import Store

    config = _config(args, require_imap=False)
    with Store(config.storage_path, readonly=True) as store:
        reports = analyze(store, config)
        alerts = alerts_summary(store)
    # alerts that wait or were refused are shown too: a lost alert must never go unnoticed
    if args.format == "json":
        _out(to_json(reports, config.thresholds.window_days, {"alerts": alerts}))
    elif args.format == "table":
        _out(to_table(reports, alerts))
    else:
        _print_reports(reports, args.format, config.thresholds.window_days)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from .training import load_jsonl

    model = _model(_config_optional(args))
    rows = load_jsonl(Path(args.file), required=("text",))
    tones = model.predict_messages([(str(r.get("subject") or ""), str(r["text"])) for r in rows])
    for row, tone in zip(rows, tones):
        _out(json.dumps({"id": row.get("id"), "label": tone.label, "scores": tone.scores}, ensure_ascii=False))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .training import evaluate_file, format_metrics

    model = _model(_config_optional(args))
    result = evaluate_file(model, Path(args.file))
    _out(json.dumps(result, indent=2) if args.format == "json" else format_metrics(result))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .modelcard import update_card
    from .tone import default_model_path
    from .training import CORPUS_DIR, EVAL_DIR, Trainer, load_corpus, load_extra

    examples, digest = load_corpus(Path(args.corpus) if args.corpus else CORPUS_DIR)
    extras = dict(load_extra(spec) for spec in args.extra or [])
    eval_dir = Path(args.eval_dir) if args.eval_dir else EVAL_DIR
    model, meta = Trainer(examples, digest, seed=args.seed, extras=extras, echo=_out, eval_dir=eval_dir).run()
    out = model.save(Path(args.out) if args.out else default_model_path())
    _out(f"\nsaved {out} ({out.stat().st_size / 1e6:.1f} MB) in {meta['training_seconds']} s")
    if args.card:
        update_card(Path(args.card), meta)
        _out(f"updated the figures in {args.card}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .analysis import analyze, classify_pending
    from .importer import import_path
    from .store import Store

    config = _config(args, require_imap=False)
    model = _model(config, required=False)
    with Store(config.storage_path) as store:
        added, bad = import_path(store, Path(args.path))
        classify_pending(store, config, model)
        reports = analyze(store, config)
    log.info("imported %d new message(s), %d malformed (logged and recorded)", added, bad)
    _out(f"imported {added} new message(s); {bad} malformed message(s) logged and skipped")
    _print_reports(reports, args.format, config.thresholds.window_days)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    model = _model(None, required=False)
    _out(run_demo(model, args.format))
    return 0


def _config_optional(args: argparse.Namespace) -> Any | None:
    if args.config is None:
        return None
    return _config(args, require_imap=False)


# --- entry point -------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clientwatch", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--config", metavar="PATH", help="configuration file (default: $CLIENTWATCH_CONFIG, "
                   "~/.config/clientwatch/config.toml, /etc/clientwatch/config.toml)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    p.add_argument("--version", action="version", version=f"clientwatch {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    s = sub.add_parser("check", help="validate the config, log in to IMAP and SMTP, list what would be watched")
    s.set_defaults(func=cmd_check)
    s = sub.add_parser("run", help="the daemon: poll, mail alerts, send the daily digest")
    s.add_argument("--once", action="store_true", help="one full cycle, then exit")
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("digest", help="mail the pending digest now")
    s.set_defaults(func=cmd_digest)
    for name, func, helptext in (("report", cmd_report, "per-client metrics and flags from the store"),):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--format", choices=("table", "json", "csv"), default="table")
        s.set_defaults(func=func)
    s = sub.add_parser("classify", help="JSON Lines {id, subject, text} in, {id, label, scores} out")
    s.add_argument("file", nargs="?", default="-", metavar="FILE|-")
    s.set_defaults(func=cmd_classify)
    s = sub.add_parser("evaluate", help="score the model on labelled JSON Lines")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--format", choices=("table", "json"), default="table")
    s.set_defaults(func=cmd_evaluate)
    s = sub.add_parser("train", help="rebuild the tone model from the corpus in models/")
    s.add_argument("--corpus", metavar="DIR", help="corpus directory (default: models/corpus)")
    s.add_argument("--out", metavar="PATH", help="model file (default: models/tone.joblib)")
    s.add_argument("--extra", action="append", metavar="NAME=PATH",
                   help="add a public data set to training for the ablation (davidson, politeness, email-intent)")
    s.add_argument("--seed", type=int, default=20261122)
    s.add_argument("--card", metavar="PATH", help="rewrite the figures section of this model card")
    s.add_argument("--eval-dir", metavar="DIR", help="blind set scored after training (default: models/eval)")
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("import", help="analyse an mbox file or a Maildir with the same pipeline")
    s.add_argument("path", metavar="PATH")
    s.add_argument("--format", choices=("table", "json", "csv"), default="table")
    s.set_defaults(func=cmd_import)
    s = sub.add_parser("demo", help="run the whole pipeline on the bundled sample mailbox")
    s.add_argument("--format", choices=("table", "json", "csv"), default="table")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose)
    try:
        code = args.func(args)
    except ClientwatchError as e:
        sys.stderr.write(f"clientwatch: error: {e}\n")
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception:
        log.exception("unexpected error; please report it with the lines above")
        code = 1
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
