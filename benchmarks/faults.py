"""Faults: a real headless monitor through a scripted day of faults (issue 23's evidence).

    python benchmarks/faults.py [--scale 1.0] [--keep DIR]

Three IP cameras are simulated by this script: MJPEG over HTTP (multipart/x-mixed-replace,
read by OpenCV's FFmpeg backend as a real stream) of assets/demo_emotions.mp4, paced at the
clip's fps and looping with a few seconds of empty (noisy) frames between loops, so each
loop is one customer visit. Like a real camera the picture follows the wall clock: a
client connecting late sees the current frame, not the first. The monitor runs as
`python -m cafe_monitor run --headless --json --realtime --loop --source NAME=URL ...` with
`CAFE_MONITOR_HOME` in a temporary folder and an SQLite database there. The day:

1. database down at start: an exclusive SQLite lock from this process for 60 s (the monitor
   waits for it, then records); later 60 s down again mid-run (rows kept, rescue file,
   stored when it is back);
2. camera `late`: its stream appears 30 s after recording started;
3. camera `flaky`: its stream dies (connections dropped, port closed) for 20 s and returns;
4. disk full for the reports folder: a tiny tmpfs, filled, is `[reports] folder`; the business
   day is set to end during the run, so its report is due (5 min later) while the disk is
   full; the disk is then freed (without root: the folder is a file, then removed);
5. SIGTERM mid-visit, then a new monitor at once: the gap, and the open visit stored.

Per fault it prints visits expected (face appearances the monitor could see: overlapping
a recording session of that camera) against visits stored (`visits` table), seconds of
recording lost (seconds a camera was serving frames around the fault with no stored
timeline second), whether the monitor recovered, and the tracebacks in its stderr. Exits
1 on any traceback, or on visits lost to a fault other than the deliberate stop.
Durations scale with --scale (0.5 halves every fault; the 5-minute report grace does not
scale). Default: about 9 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.server
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from pipeline_options import frames_of  # the sibling script: one way to read a clip

REPO = Path(__file__).resolve().parents[1]
Interval = tuple[float, float]

#: the report of a business day is due this long after it ends (cafe_monitor.daily_reports.GRACE)
REPORT_GRACE_S = 300.0
#: a face must be seen this long to make a visit (tracker: 5 frames over 0.5 s, with margin)
MIN_VISIT_S = 1.5


# -- pure helpers (tested in tests/test_faults_benchmark.py) ---------------------------------
def appearances(up: Sequence[Interval], face_s: float, cycle_s: float) -> list[Interval]:
    """When the face is on screen: each up interval starts a loop (face, then blank) anew."""
    shown: list[Interval] = []
    for start, end in up:
        t = start
        while t < end:
            shown.append((t, min(t + face_s, end)))
            t += cycle_s
    return [a for a in shown if a[1] > a[0]]


def overlap(a: Interval, b: Interval) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def expected_visits(shown: Sequence[Interval], recording: Sequence[Interval]) -> list[Interval]:
    """The visits the monitor could record: each appearance once per recording session it
    overlaps long enough to make a visit (a customer in view across a restart is a new visit
    of the new session), cut to that session."""
    return [(max(a[0], r[0]), min(a[1], r[1])) for a in shown for r in recording if overlap(a, r) >= MIN_VISIT_S]


def visit_counts(expected: Sequence[Interval], stored: Sequence[Interval], window: Interval) -> tuple[int, int]:
    """(expected, stored) visits of one camera in `window`. Each expected visit is paired with
    the stored visit it overlaps (one each, in order), and a pair is counted in the window of
    its expected visit's middle, so both sides agree on which window a visit falls in; an
    unpaired visit (a lost one, or an extra one: a split) by its own middle."""
    def inside(v: Interval) -> bool:
        return window[0] <= (v[0] + v[1]) / 2 < window[1]

    left = sorted(stored)
    n_expected = n_stored = 0
    for e in sorted(expected):
        pair = next((s for s in left if overlap(e, (s[0], max(s[1], s[0] + 0.01))) >= 0.5), None)
        if pair is not None:
            left.remove(pair)
        if inside(e):
            n_expected += 1
            n_stored += pair is not None
    return n_expected, n_stored + sum(1 for s in left if inside(s))


def lost_seconds(stored: set[int], up: Sequence[Interval], window: Interval) -> int:
    """Whole seconds inside `window` while the camera served frames, with no stored
    timeline second: recording lost around a fault."""
    lost = 0
    for start, end in up:
        first, last = max(int(np.ceil(max(start, window[0]))), 0), int(min(end, window[1])) - 1
        lost += sum(1 for s in range(first, last + 1) if s not in stored)
    return lost


def first_stored_after(stored: set[int], t: float, within: float) -> float | None:
    """Seconds from `t` to the first stored second at or after it (None: none within `within`)."""
    later = [s for s in stored if t - 1 < s <= t + within]
    return max(0.0, min(later) - t) if later else None


# -- simulated IP cameras ----------------------------------------------------------------------
def load_frames(clip: Path, blank_s: float) -> tuple[list[bytes], list[bytes], float]:
    """The clip's frames and blank frames as JPEG, and its fps. Blank frames carry a little
    noise, as a real sensor's do (the capture reopens a camera sending one frame 90 times)."""
    frames, fps = frames_of(clip)
    face = [cv2.imencode(".jpg", image)[1].tobytes() for image in frames]
    shape = frames[-1].shape if frames else (360, 640, 3)
    rng = np.random.default_rng(0)
    blank = [cv2.imencode(".jpg", rng.integers(40, 60, size=shape, dtype=np.uint8))[1].tobytes()
             for _ in range(max(1, round(blank_s * fps)))]
    return face, blank, fps


class MjpegCamera:
    """An IP camera on 127.0.0.1: `up()` starts a new loop at the clip's first frame,
    `down()` drops every connection and closes the port. Records when it was up."""

    def __init__(self, name: str, face: list[bytes], blank: list[bytes], fps: float) -> None:
        self.name, self.face, self.blank, self.fps = name, face, blank, fps
        with contextlib.closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/{name}.mjpg"
        self.up_intervals: list[Interval] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._started = 0.0

    @property
    def face_s(self) -> float:
        return len(self.face) / self.fps

    @property
    def cycle_s(self) -> float:
        return (len(self.face) + len(self.blank)) / self.fps

    def frame_at(self, t: float) -> bytes:
        i = int((t - self._started) * self.fps) % (len(self.face) + len(self.blank))
        return self.face[i] if i < len(self.face) else self.blank[i - len(self.face)]

    def up(self) -> None:
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                server, tick = self.server, 1.0 / camera.fps
                next_at = time.time()
                try:
                    while camera._server is server:
                        jpeg = camera.frame_at(time.time())
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpeg) + jpeg + b"\r\n")
                        next_at = max(next_at + tick, time.time())  # late: no burst to catch up
                        time.sleep(max(0.0, next_at - time.time()))
                except OSError:  # the monitor hung up (it reconnects, or it stopped)
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._started = time.time()
        self.up_intervals.append((self._started, float("inf")))
        threading.Thread(target=self._server.serve_forever, name=f"mjpeg-{self.name}", daemon=True).start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self.up_intervals[-1] = (self.up_intervals[-1][0], time.time())

    def in_face(self, t: float, margin: float) -> bool:
        """Whether the face is on screen at `t`, at least `margin` seconds from either end."""
        if self._server is None:
            return False
        into = (t - self._started) % self.cycle_s
        return margin <= into <= self.face_s - margin


# -- faults ------------------------------------------------------------------------------------
class SqliteOutage:
    """The database 'down' for the monitor: another process holds SQLite's lock.

    `exclusive` (before the monitor has the file open): exclusive locking mode, so even reads
    are refused ('database is locked'). Otherwise (a monitor holds the file open in WAL mode,
    where no other connection can take that mode): the write lock, so every write, each of
    the writer's commits included, is refused; reads still answer."""

    def __init__(self, path: Path, exclusive: bool = False) -> None:
        self.path, self.exclusive = path, exclusive
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> SqliteOutage:
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        if self.exclusive:
            self.conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        deadline = time.monotonic() + 30
        while True:  # the monitor commits about once a second: take the lock between two commits
            try:
                self.conn.execute("BEGIN EXCLUSIVE")
                return self
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


class FullDisk:
    """The reports folder on a tiny tmpfs, filled to the last block; `free()` empties it.
    Without permission to mount (not root), an honest stand-in: the folder's path is a file
    (every write there fails), removed by `free()`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mounted = False
        folder.mkdir(parents=True)
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(folder)],
                           check=True, capture_output=True)
            self.mounted = True
        except (OSError, subprocess.CalledProcessError):
            folder.rmdir()
        self.filler = folder / "filler.bin" if self.mounted else folder
        with contextlib.suppress(OSError), self.filler.open("wb") as fh:
            while True:  # ENOSPC ends it: not one block left
                fh.write(b"\0" * 4096)
                fh.flush()
        self.how = "tmpfs of 64 KiB, full" if self.mounted else "reports folder replaced by a file (no mount)"

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
        if not self.mounted:
            self.folder.mkdir()

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=False, capture_output=True)


def zone_for(boundary: dt.datetime) -> tuple[str, str]:
    """A time zone and business_day_start (HH:MM, at most 12:00) making the business day end at
    `boundary` (UTC, on a whole minute): an Etc/GMT zone in which it is between 00:00 and 11:59."""
    offset = -boundary.hour if boundary.hour <= 12 else 24 - boundary.hour  # local hour 0
    name = "UTC" if offset == 0 else f"Etc/GMT{'+' if offset < 0 else '-'}{abs(offset)}"
    local = boundary + dt.timedelta(hours=offset)
    return name, f"{local:%H:%M}"


# -- the monitor -------------------------------------------------------------------------------
@dataclass
class Run:
    """One monitor process: its command, stderr file and when it ran."""

    proc: subprocess.Popen[bytes]
    stderr: Path
    started: float
    ended: float | None = None
    rc: int | None = None

    def text(self) -> str:
        return self.stderr.read_text(errors="replace") if self.stderr.exists() else ""


def start_monitor(home: Path, db: Path, cameras: Sequence[MjpegCamera], log: Path) -> Run:
    cmd = [sys.executable, "-m", "cafe_monitor", "run", "--headless", "--json", "--realtime", "--loop",
           "--db", f"sqlite:///{db}", *[f"--source={c.name}={c.url}" for c in cameras]]
    env = {**os.environ, "CAFE_MONITOR_HOME": str(home)}
    with log.open("wb") as err, (log.with_suffix(".json")).open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err)
    return Run(proc, log, time.time())


def stop_monitor(run: Run, timeout: float = 60.0) -> None:
    """SIGTERM: the monitor ends its sessions cleanly (their open visits stored)."""
    run.proc.send_signal(signal.SIGTERM)
    try:
        run.rc = run.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        run.proc.kill()
        run.rc = run.proc.wait()
    run.ended = time.time()


# -- reading the database -------------------------------------------------------------------------
def epoch(text: str) -> float:
    t = dt.datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


@dataclass
class Stored:
    """What the database holds per camera."""

    seconds: dict[str, set[int]] = field(default_factory=dict)
    visits: dict[str, list[Interval]] = field(default_factory=dict)
    sessions: dict[str, list[tuple[int, Interval, str]]] = field(default_factory=dict)  # (id, span, status)


def read_db(db: Path, now: float) -> Stored:
    out = Stored()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        for sid, cam, start, end, status in conn.execute(
                "SELECT id, camera, started_at, ended_at, status FROM sessions ORDER BY id"):
            out.sessions.setdefault(cam, []).append((sid, (epoch(start), epoch(end) if end else now), status))
        for cam, at in conn.execute("SELECT s.camera, t.at FROM timeline t JOIN sessions s ON s.id = t.session_id"):
            out.seconds.setdefault(cam, set()).add(round(epoch(at)))
        for cam, first, last in conn.execute(
                "SELECT s.camera, v.first_seen, v.last_seen FROM visits v JOIN sessions s ON s.id = v.session_id"):
            out.visits.setdefault(cam, []).append((epoch(first), epoch(last)))
    finally:
        conn.close()
    return out


def session_count(db: Path) -> int:
    """Sessions written so far (0 while the database is locked)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
        try:
            return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


# -- the day -------------------------------------------------------------------------------------
@dataclass
class Fault:
    """One scripted fault: the cameras it touches, the window it is judged over, when it ended."""

    name: str
    cameras: list[str]
    window: Interval
    over_at: float  # the fault is over from here (recovery is measured from it)
    deliberate: bool = False
    recovered_extra: bool = True  # a fault-specific check (report written, visit kept, ...)
    back: float | None = None  # recording back after this many seconds, when not measured from over_at
    note: str = ""


class StallWatch(threading.Thread):
    """This process's own scheduling delays over 1 s: the machine (shared) was too busy to run
    the cameras' servers, so seconds lost then are the host's, not the monitor's."""

    def __init__(self) -> None:
        super().__init__(name="stall-watch", daemon=True)
        self.stalls: list[Interval] = []

    def run(self) -> None:
        last = time.time()
        while True:
            time.sleep(0.1)
            now = time.time()
            if now - last > 1.0:
                self.stalls.append((last, now))
            last = now


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


@contextlib.contextmanager
def day_folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="cafe-faults-") as tmp:
        yield Path(tmp)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every fault's duration (60 s, 30 s, 20 s)")
    p.add_argument("--clip", type=Path, default=REPO / "assets" / "demo_emotions.mp4")
    p.add_argument("--blank", type=float, default=5.0, help="seconds of empty frames between loops (> 2 s: "
                                                             "the tracker's max_gap, so each loop is a visit)")
    p.add_argument("--after", type=float, default=45.0, help="seconds the restarted monitor records")
    p.add_argument("--keep", type=Path, help="keep the data folder, logs and database here")
    args = p.parse_args()
    db_down, late_by, cam_down = 60.0 * args.scale, 30.0 * args.scale, 20.0 * args.scale

    face, blank, fps = load_frames(args.clip, args.blank)
    steady, late, flaky = (MjpegCamera(n, face, blank, fps) for n in ("steady", "late", "flaky"))
    cameras = [steady, late, flaky]
    with day_folder(args.keep) as root:
        home, db = root / "home", root / "home" / "cafe.db"
        home.mkdir(exist_ok=True)
        disk = FullDisk(root / "reports")
        runs: list[Run] = []
        try:
            return run_day(args, home, db, disk, cameras, runs, db_down, late_by, cam_down, root)
        finally:
            for run in runs:  # the benchmark failed half-way: no monitor is left behind
                if run.proc.poll() is None:
                    stop_monitor(run, timeout=20)
            for c in cameras:
                c.down()
            disk.close()


def run_day(args: argparse.Namespace, home: Path, db: Path, disk: FullDisk, cameras: list[MjpegCamera],
            runs: list[Run], db_down: float, late_by: float, cam_down: float, root: Path) -> int:
    steady, late, flaky = cameras
    from cafe_monitor import storage  # the schema, made before the lock (an empty database)

    storage.open_database(f"sqlite:///{db}").dispose()
    launch = time.time()
    # the business day ends on the first whole minute well after recording has started
    boundary = dt.datetime.fromtimestamp(launch + db_down + 75, dt.timezone.utc)
    boundary = (boundary + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    zone, day_start = zone_for(boundary)
    (home / "settings.toml").write_text(
        f'[storage]\ntime_zone = "{zone}"\nbusiness_day_start = "{day_start}"\n\n'
        f'[reports]\nfolder = "{disk.folder}"\n', encoding="utf-8")
    print(f"day of faults in {root}; business day ends {boundary:%H:%M:%S} UTC ({zone} {day_start}), "
          f"report due 5 min later; reports folder: {disk.how}", flush=True)
    steady.up()
    flaky.up()
    watch = StallWatch()
    watch.start()
    faults: list[Fault] = []

    # 1. database down at start
    with SqliteOutage(db, exclusive=True):
        runs.append(start_monitor(home, db, cameras, root / "monitor-1.err"))
        sleep_until(launch + db_down)
    unlocked = time.time()
    while session_count(db) < len(cameras) and time.time() < unlocked + 180:
        time.sleep(0.5)
    recording = time.time()
    print(f"  {recording - launch:5.0f} s: recording (database locked for the first {db_down:.0f} s)", flush=True)
    faults.append(Fault("database down at start", [steady.name, flaky.name], (launch, unlocked + 30), unlocked,
                        note=f"{db_down:.0f} s; no recording before the database answers (by design)"))

    # 2. a camera that appears late
    sleep_until(recording + late_by)
    late.up()
    faults.append(Fault("camera appears late", [late.name], (time.time(), time.time() + 40), time.time(),
                        note=f"{late_by:.0f} s after recording began"))
    print(f"  {time.time() - launch:5.0f} s: camera late up", flush=True)

    # 3. a camera that dies and returns
    sleep_until(recording + late_by + 30)
    died = time.time()
    flaky.down()
    sleep_until(died + cam_down)
    flaky.up()
    back = time.time()
    faults.append(Fault("camera dies and returns", [flaky.name], (died - 5, back + 40), back,
                        note=f"down {cam_down:.0f} s"))
    print(f"  {back - launch:5.0f} s: camera flaky back after {back - died:.0f} s", flush=True)

    # 4. the database down mid-run
    sleep_until(back + 30)
    locked = time.time()
    with SqliteOutage(db):
        sleep_until(locked + db_down)
    unlocked2 = time.time()
    faults.append(Fault("database down mid-run", [c.name for c in cameras], (locked, unlocked2 + 30), unlocked2,
                        note=f"{db_down:.0f} s"))
    print(f"  {unlocked2 - launch:5.0f} s: database back after {unlocked2 - locked:.0f} s", flush=True)

    # 5. the day's report due while its folder's disk is full
    due = boundary.timestamp() + REPORT_GRACE_S
    seen = False
    while time.time() < due + 30 and not seen:
        time.sleep(1)
        seen = time.time() > due and "daily report not written yet" in runs[0].text()  # its warning
    failed_at = time.time()
    disk.free()
    print(f"  {failed_at - launch:5.0f} s: report due at {due - launch:.0f} s; failure "
          f"{'logged' if seen else 'NOT logged'}; disk freed", flush=True)

    # 6. SIGTERM mid-visit, and a new monitor at once
    sleep_until(failed_at + 10)  # monitoring goes on after the failed report
    while not steady.in_face(time.time(), margin=5.0):
        time.sleep(0.2)
    termed = time.time()
    stop_monitor(runs[0])
    runs.append(start_monitor(home, db, cameras, root / "monitor-2.err"))
    while session_count(db) < 2 * len(cameras) and time.time() < runs[1].started + 120:
        time.sleep(0.5)
    exited = (runs[0].ended or termed) - termed
    print(f"  {termed - launch:5.0f} s: SIGTERM (rc {runs[0].rc}, exited after {exited:.1f} s); restarted", flush=True)
    sleep_until(time.time() + args.after)
    stop_monitor(runs[1])
    end = runs[1].ended or time.time()

    stored = read_db(db, end)
    folder_files = sorted(q.name for q in disk.folder.iterdir()) if disk.folder.is_dir() else []
    report_written = any(n.endswith(".pdf") for n in folder_files)
    faults.insert(4, Fault("reports disk full", [c.name for c in cameras], (due - 10, termed - 1), failed_at,
                           recovered_extra=seen and report_written,
                           note=f"{disk.how}; failure logged: {seen}; report written after the restart: "
                                f"{report_written}"))
    # the visit in view at SIGTERM: stored by the first monitor, up to its last second or so
    kept = any(v[0] < termed - 4 and v[1] >= termed - 2 for v in stored.visits.get(steady.name, []))
    restarted = runs[1].started  # the first monitor had exited: every second from here is the new one's
    back2 = min((s for c in cameras for s in stored.seconds.get(c.name, set()) if s >= int(restarted)), default=end)
    began = min((span[0] for c in cameras for _, span, _ in stored.sessions.get(c.name, []) if span[0] >= restarted),
                default=end)  # the new monitor's sessions written: recording again
    faults.append(Fault("SIGTERM and restart", [c.name for c in cameras], (termed - 10, back2 + 30), restarted,
                        deliberate=True, recovered_extra=kept, back=began - termed,
                        note=f"open visit stored: {kept}; monitor exit codes {runs[0].rc}, {runs[1].rc}"))
    faults.append(Fault("whole day", [c.name for c in cameras], (launch, end), launch))
    return report(faults, cameras, stored, runs, home, root, watch.stalls)


def report(faults: list[Fault], cameras: list[MjpegCamera], stored: Stored, runs: list[Run], home: Path,
           root: Path, stalls: Sequence[Interval] = ()) -> int:
    """The table; 1 on a traceback or visits lost to a fault that was not a deliberate stop."""
    by_name = {c.name: c for c in cameras}
    tracebacks = sum(r.text().count("Traceback (most recent call last)") for r in runs)
    leftover = sorted(q.name for q in home.glob("unsaved-session-*"))
    failed = tracebacks > 0 or any(r.rc not in (0, None) for r in runs)
    rows = []
    day_end = faults[-1].window[1]
    for f in faults:
        expected = got = lost = 0
        back: list[float | None] = []
        for name in f.cameras:
            cam = by_name[name]
            up = [(a, b if b != float("inf") else day_end) for a, b in cam.up_intervals]
            recording = [span for _, span, _ in stored.sessions.get(name, [])]
            could = expected_visits(appearances(up, cam.face_s, cam.cycle_s), recording)
            n_expected, n_stored = visit_counts(could, stored.visits.get(name, []), f.window)
            expected, got = expected + n_expected, got + n_stored
            seconds = stored.seconds.get(name, set())
            lost = max(lost, lost_seconds(seconds, up, f.window))
            if f.name != "whole day":
                back.append(first_stored_after(seconds, f.over_at, f.window[1] - f.over_at))
        recovered = f.recovered_extra and all(b is not None for b in back)
        if f.name == "database down mid-run":
            recovered = recovered and not leftover
        if got < expected and not f.deliberate:
            failed = True
        after = f.back if f.back is not None else max((b for b in back if b is not None), default=None)
        rows.append((f.name, expected, got, lost, recovered, after, f.note))
    print(f"\nFaults ({time.strftime('%Y-%m-%d')}, {os.cpu_count()}-core {platform.machine()}, "
          f"{platform.processor() or platform.system()}):")
    print(f"{'fault':26} {'visits exp':>10} {'stored':>6} {'s lost':>6} {'recovered':>9} {'back after':>10}  note")
    for name, expected, got, lost, recovered, after, note in rows:
        print(f"{name:26} {expected:>10} {got:>6} {lost:>6} {'yes' if recovered else 'NO':>9} "
              f"{'-' if after is None else f'{after:.0f} s':>10}  {note}")
    print(f"tracebacks in the monitors' stderr: {tracebacks}; rescue files left: {len(leftover)}; "
          f"exit codes: {[r.rc for r in runs]}")
    start = faults[-1].window[0]
    print(f"this process (the cameras' servers) not scheduled for over 1 s: {len(stalls)} times, "
          f"{sum(b - a for a, b in stalls):.1f} s in all"
          + "".join(f"; {b - a:.1f} s at {a - start:.0f} s" for a, b in stalls[:5]))
    summary = {"faults": [dict(zip(("fault", "visits_expected", "visits_stored", "seconds_lost", "recovered",
                                     "back_after_s", "note"), r, strict=True)) for r in rows],
               "tracebacks": tracebacks, "rescue_files_left": len(leftover), "host_stalls": list(stalls),
               "cameras_up": {c.name: c.up_intervals for c in cameras}, "windows": {f.name: f.window for f in faults},
               "sessions": stored.sessions, "visits": stored.visits}
    (root / "faults.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
