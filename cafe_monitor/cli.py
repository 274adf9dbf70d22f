"""`cafe-monitor` command line: run (dashboard or headless), sessions, report, import, delete,
evaluate, install-autostart, install-desktop, check.

User errors (no camera, bad file, bad settings, locked database, unwritable folder)
print one line and exit with status 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cafe_monitor import __version__
from cafe_monitor.capture import SourceError
from cafe_monitor.config import ConfigError, Settings, load
from cafe_monitor.domain import counted
from cafe_monitor.errors import UserError
from cafe_monitor.native_output import silence_opencv
from cafe_monitor.paths import default_db_url, settings_path


def _settings(args: argparse.Namespace) -> Settings:
    return load(args.config if args.config else settings_path())


def _db_url(args: argparse.Namespace, settings: Settings) -> str:
    return args.db or settings.storage.url or default_db_url()


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Ctrl+C (or SIGTERM) ends every camera's session cleanly; a second one, for a shutdown
    that hangs (a database that does not answer), ends the program at once."""
    def on_signal(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)


def cmd_run(args: argparse.Namespace) -> int:
    sources: list[str] = args.source or []
    if not args.headless:
        if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
                and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
            raise SourceError("no display to open the dashboard on; run with --headless (or under a desktop)")
        from cafe_monitor.ui.app import main as ui_main

        try:
            settings, problem = _settings(args), None
        except ConfigError as exc:  # shown in the window: a dashboard started from a menu has no terminal
            settings, problem = Settings(), str(exc)
        return ui_main(settings, source=sources[0] if len(sources) == 1 else None,
                       sources=sources if len(sources) > 1 else None, db_url=args.db, model=args.model,
                       settings_file=args.config, settings_error=problem, start=args.start)
    settings = _settings(args)
    if not args.config and not settings_path().exists():  # a first start without a screen: say where they go
        print(f"settings: {settings_path()} not written yet, running on the defaults "
              "(the dashboard's first start writes it; keys: docs/settings.md)", file=sys.stderr)
    from cafe_monitor.monitor import Monitor, combined_score, plan_cameras

    plans = plan_cameras(settings, sources)
    monitor = Monitor(settings, plans, model=args.model, db_url=args.db, store=not args.no_store,
                      realtime=args.realtime, loop=args.loop or None)
    stop_on_signals(monitor.stop)
    from cafe_monitor import daily_reports

    reporter = daily_reports.start_for(settings, _db_url(args, settings)) if not args.no_store else None
    try:
        runs = monitor.run(max_seconds=args.max_seconds)
    finally:
        monitor.close()
        if reporter is not None:
            reporter.stop()
    if len(runs) == 1 and runs[0].error is not None:
        raise runs[0].error  # one camera: exactly as before (a user error is one line, a bug a traceback)
    slow = monitor.shortfall()  # over the run's last seconds: "machine too slow: ..." or None
    if args.json:  # one camera: the summary as before; several: one summary each, named
        single = runs[0].result if len(runs) == 1 else None
        print(json.dumps(single.as_dict() if single is not None else {
            "cameras": [r.as_dict() for r in runs],
            "combined": {**combined_score(runs, settings).as_dict(), "shortfall": slow}}))
    for run in runs:
        result = run.result
        if result is None:
            continue
        if not args.json:
            s = result.score
            score = f"{s.score:.0f} (95% {s.low:.0f}-{s.high:.0f})" if s.score is not None else "n/a"
            who = f"camera {run.name}: " if len(runs) > 1 else ""
            print(f"{who}session {result.session_id}: {counted(result.stats.frames, 'frame')} at "
                  f"{result.stats.fps:.1f} fps ({result.provider}), {counted(len(result.visits), 'visit')}, "
                  f"score {score}")
        if result.rescue_file:
            print(f"warning: database unavailable, rows saved to {result.rescue_file}; load them with "
                  f"`cafe-monitor import {result.rescue_file}`", file=sys.stderr)
    if slow and not (args.json and len(runs) > 1):  # the JSON of several cameras carries it
        print(f"warning: {slow}", file=sys.stderr)
    failed = [r for r in runs if r.error is not None]
    for run in failed:
        print(f"error: camera {run.name!r}: {run.error}", file=sys.stderr)
    return 2 if failed else 0


def _counter(args: argparse.Namespace) -> Any:
    from cafe_monitor.storage.queries import Counter

    return Counter(site=args.site or None, camera=args.camera or None)


def cmd_sessions(args: argparse.Namespace) -> int:
    from cafe_monitor import history, storage
    from cafe_monitor.site_clock import site_clock
    from cafe_monitor.storage import queries

    settings = _settings(args)
    engine = storage.open_database(_db_url(args, settings))
    own = settings.storage.clock()
    rows: list[dict[str, Any]] = []
    listed = queries.recent_sessions(engine, args.limit, _counter(args))
    clocks = {site: site_clock(engine, site, own) for site in {s.site for s in listed}}
    for s, score in history.scored_sessions(engine, listed, settings.score.to_config()):  # two queries in all
        clock = clocks[s.site]  # each shop's times in its own zone
        rows.append({"id": s.id, "start": clock.local(s.started_at).isoformat(timespec="seconds"),
                     "time_zone": clock.name, "business_day": clock.business_day(s.started_at).isoformat(),
                     "duration_s": round(s.seconds, 1), "status": s.status,
                     "site": s.site, "camera": s.camera, "source": s.source, "visits": score.visits,
                     "score": score.score, "low": score.low, "high": score.high})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no sessions yet")
        return 0
    zones = sorted({str(r["time_zone"]) for r in rows})
    print(f"times in {zones[0]}" if len(zones) == 1 else "times in each site's zone: " + ", ".join(zones))
    print(f"{'id':>5}  {'start (local)':19}  {'duration':>8}  {'visits':>6}  {'score':>13}  {'status':11}  site/camera")
    for r in rows:
        sc = f"{r['score']:.0f} [{r['low']:.0f}-{r['high']:.0f}]" if r["score"] is not None else "-"
        mins, secs = divmod(int(r["duration_s"]), 60)
        print(f"{r['id']:>5}  {r['start'][:19]:19}  {mins:>4}m{secs:02d}s  {r['visits']:>6}  {sc:>13}  "
              f"{r['status']:11}  {r['site']}/{r['camera']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from cafe_monitor import reports, storage

    settings = _settings(args)
    engine = storage.open_database(_db_url(args, settings))
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = set(formats) - set(reports.FORMATS)
    if bad:
        raise ConfigError(f"unknown report format(s): {', '.join(sorted(bad))} (choose from pdf, csv, json)")
    clock, counter = settings.storage.clock(), _counter(args)
    data = (reports.session_report(engine, args.session, settings.score.to_config(), clock, counter) if args.session
            else reports.day_report(engine, args.day, settings.score.to_config(), clock, counter))
    for path in reports.write(data, formats, args.out):
        print(path)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Load rescue files (rows a failing database could not take) into the database; what
    retention has removed since is removed again at once, not at the next hourly prune."""
    from cafe_monitor import storage
    from cafe_monitor.site_clock import site_clock
    from cafe_monitor.storage import rescue

    settings = _settings(args)
    engine = storage.open_database(_db_url(args, settings))
    sites: set[str] = set()
    for path in args.files:
        r = rescue.import_file(engine, path)
        kept = path if path.name.endswith(rescue.IMPORTED_SUFFIX) else rescue.mark_imported(path)
        if r.deleted:
            print(f"{path}: its session was deleted here; nothing brought back; file kept as {kept.name}")
            continue
        sites.add(r.site)
        print(f"{path}: session {r.session_id}{' (new here)' if r.created else ''}: {counted(r.visits, 'visit')} and "
              f"{counted(r.seconds, 'second')} added; file kept as {kept.name}")
    privacy = settings.privacy
    for site in sorted(sites):
        removed = storage.prune(engine, site, timeline_days=privacy.retention_days,
                                visit_days=privacy.visit_retention_days,
                                clock=site_clock(engine, site, settings.storage.clock()))
        if removed.sessions or removed.visits or removed.seconds:
            print(f"{site or 'this site'}: past retention ([privacy] retention_days = {privacy.retention_days}, "
                  f"visit_retention_days = {privacy.visit_retention_days}), removed again: {removed}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete a session, or a business day (of one site), after asking."""
    import datetime as dt

    from cafe_monitor import storage
    from cafe_monitor.site_clock import site_clock
    from cafe_monitor.storage import housekeeping, queries

    settings = _settings(args)
    engine = storage.open_database(_db_url(args, settings))
    ranges: dict[str, tuple[dt.datetime, dt.datetime]] = {}  # site -> its business day, in its own zone
    if args.session is not None:
        what, label = housekeeping.count_session(engine, args.session), f"session {args.session}"
    else:
        try:
            day = dt.date.fromisoformat(args.day)
        except ValueError:
            raise ConfigError(f"--day must be YYYY-MM-DD, got {args.day!r}") from None
        own = settings.storage.clock()
        clocks = {site: site_clock(engine, site, own) for site in ([args.site] if args.site else queries.sites(engine))}
        ranges = {site: clock.day_range(day) for site, clock in clocks.items()}
        what = sum((housekeeping.count_between(engine, *r, site) for site, r in ranges.items()), housekeeping.Removed())
        zones = ", ".join(sorted({c.name for c in clocks.values()})) or own.name
        label = f"business day {day} ({zones}){f' of site {args.site}' if args.site else ' of every site'}"
    if not args.yes:
        try:
            answer = input(f"Delete {label}: {what}? This cannot be undone. [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing deleted")
            return 1
    removed = (housekeeping.delete_session(engine, args.session) if args.session is not None
               else sum((housekeeping.delete_between(engine, *r, site) for site, r in ranges.items()),
                        housekeeping.Removed()))
    live = args.session is not None and removed.sessions == 0
    print(f"deleted {label}: {removed}" + (" (it is recording: it goes on from now)" if live else ""))
    return 0


def cmd_install_autostart(args: argparse.Namespace) -> int:
    """Start the monitor at login and restart it after a crash (Linux; see cafe_monitor.autostart)."""
    from cafe_monitor import autostart

    if args.remove:
        removed = autostart.remove()
        for path in removed:
            print(f"removed {path}")
        print("autostart removed (a monitor running now keeps running)" if removed else "no autostart entry to remove")
        return 0
    outcome = autostart.install(headless=args.headless, method=args.method, config=args.config)
    print(f"autostart: {outcome.why}")
    for path in outcome.removed:
        print(f"removed {path}")
    for path in outcome.written:
        print(f"wrote {path}")
    for note in outcome.notes:
        print(note)
    print("undo: cafe-monitor install-autostart --remove")
    return 0


def cmd_install_desktop(args: argparse.Namespace) -> int:
    """Put the dashboard in the Linux application menu, with its icon (see cafe_monitor.desktop)."""
    from cafe_monitor import desktop

    if args.remove:
        removed = desktop.remove()
        for path in removed:
            print(f"removed {path}")
        print("menu entry removed" if removed else "no menu entry to remove")
        return 0
    for path in desktop.install(config=args.config):
        print(f"wrote {path}")
    print("Café Monitor is in the application menu (Office); undo: cafe-monitor install-desktop --remove")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Which inference provider this machine will use, and why."""
    import onnxruntime as ort

    from cafe_monitor.classification import EmotionClassifier
    from cafe_monitor.paths import resolve_model

    clf = EmotionClassifier(resolve_model(args.model))
    info = {"onnxruntime": ort.__version__, "available_providers": ort.get_available_providers(),
            "provider_in_use": clf.provider, "precision": clf.precision,
            "model": str(clf.model_path), "model_sha256": clf.card.sha256}
    print(json.dumps(info, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cafe_monitor.evaluation import main as evaluate_main

    return evaluate_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cafe-monitor", description="Customer-satisfaction monitor for a café counter.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--config", type=Path, help="settings TOML (default: the one in the user data folder)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command")

    r = sub.add_parser("run", help="run the monitor (dashboard, or --headless)")
    r.add_argument("--source", action="append", metavar="[NAME=]SOURCE",
                   help="camera index (0), video file, or stream URL; default from settings. Repeat for up to "
                        "4 cameras at once, each stored under its own name (NAME=, a [cameras.NAME] table with "
                        "this source, else the default camera name, camera-2, ...)")
    r.add_argument("--headless", action="store_true", help="no window; print a summary when the source ends")
    r.add_argument("--max-seconds", type=float, help="stop after this many seconds")
    r.add_argument("--loop", action="store_true", help="loop a video file (demos, soak tests)")
    r.add_argument("--realtime", action="store_true", help="pace a video file like a camera")
    r.add_argument("--model", type=Path, help="another ONNX emotion model (with its .card.json)")
    r.add_argument("--db", help="SQLAlchemy URL (default: SQLite in the user data folder; env CAFE_MONITOR_DB)")
    r.add_argument("--no-store", action="store_true", help="do not record the session")
    r.add_argument("--json", action="store_true", help="print one JSON object at the end")
    r.add_argument("--start", action="store_true", help="dashboard: start monitoring at once (as "
                                                        "[camera] start_at_launch does)")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("sessions", help="list recorded sessions")
    s.add_argument("--db")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--site", help="only this site")
    s.add_argument("--camera", help="only this camera")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sessions)

    rep = sub.add_parser("report", help="export a session or a day as PDF/CSV/JSON")
    which = rep.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", help="session id, or 'last'")
    which.add_argument("--day", help="YYYY-MM-DD: a business day in the site's zone ([storage] time_zone, "
                                     "business_day_start)")
    rep.add_argument("--format", default="pdf,csv", help="comma-separated: pdf,csv,json")
    rep.add_argument("--out", type=Path, default=Path("."), help="output folder")
    rep.add_argument("--site", help="only this site ('--session last': the site's latest)")
    rep.add_argument("--camera", help="only this camera")
    rep.add_argument("--db")
    rep.set_defaults(func=cmd_report)

    ev = sub.add_parser("evaluate", help="accuracy on a folder of labelled photos (one sub-folder per emotion)")
    ev.add_argument("--images", type=Path, required=True,
                    help="a folder with one sub-folder per emotion, or a CSV with file and label columns")
    ev.add_argument("--model", type=Path)
    ev.add_argument("--crops", action="store_true", help="photos are already-cropped faces: skip detection")
    ev.add_argument("--pad", type=float, default=None, metavar="FRACTION",
                    help="pad each photo by this fraction of its size (edge replicated) before detection "
                         "(default: as it is, then padded by 0.5 and by 1 where no face is found: a face "
                         "that fills a portrait gets the context a camera frame has)")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--out", type=Path, help="write confusion-matrix PNG and per-photo CSV here")
    ev.set_defaults(func=cmd_evaluate)

    imp = sub.add_parser("import", help="load unsaved-session-*.jsonl rescue files into the database")
    imp.add_argument("files", type=Path, nargs="+")
    imp.add_argument("--db")
    imp.set_defaults(func=cmd_import)

    d = sub.add_parser("delete", help="delete a session or a day (data-subject requests, mistakes)")
    target = d.add_mutually_exclusive_group(required=True)
    target.add_argument("--session", type=int, help="session id")
    target.add_argument("--day", help="YYYY-MM-DD: the site's business day (its zone and day start)")
    d.add_argument("--site", help="only this site (with --day)")
    d.add_argument("--yes", action="store_true", help="do not ask")
    d.add_argument("--db")
    d.set_defaults(func=cmd_delete)

    a = sub.add_parser("install-autostart", help="start the monitor at login, restarted after a crash (Linux)")
    a.add_argument("--headless", action="store_true", help="autostart the headless monitor instead of the dashboard")
    a.add_argument("--method", choices=("auto", "systemd", "xdg"), default="auto",
                   help="systemd user unit or XDG autostart entry (default: systemd where the session has it)")
    a.add_argument("--remove", action="store_true", help="remove the autostart entry")
    a.set_defaults(func=cmd_install_autostart)

    m = sub.add_parser("install-desktop", help="put the dashboard in the Linux application menu, with its icon")
    m.add_argument("--remove", action="store_true", help="remove the menu entry and icon")
    m.set_defaults(func=cmd_install_desktop)

    c = sub.add_parser("check", help="show the inference provider and model in use")
    c.add_argument("--model", type=Path)
    c.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # the quick start: `cafe-monitor` opens the dashboard
        args = parser.parse_args(["run", *(argv or sys.argv[1:])])
    os.environ.setdefault("GLOG_minloglevel", "2")
    silence_opencv()
    chatty = args.command == "run" and not getattr(args, "json", False)  # progress lines for a monitor run
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO if chatty else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except (UserError, OSError) as exc:  # OSError: a file or folder the user named cannot be used
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
