"""Every shell command in a fenced block of README.md and docs/*.md is checked, so the docs
cannot show a command that does not work: `cafe-monitor ...` through the program's own argument
parser and its subcommand's --help, a headless run on the demo clip for real; our scripts exist,
are executable and parse; `python -m cafe_monitor.*` runs. Commands of other tools are listed below
with the test (or the reason) that covers them; a command that is none of these fails the test."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cafe_monitor.cli import build_parser
from tests.conftest import ASSETS, REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: other tools' commands, and what covers them
ELSEWHERE = {
    "pipx install": "tests/test_wheel.py installs the same wheel into a fresh environment, offline",
    "pip wheel": "tests/test_wheel.py builds the wheel (from an sdist built from the same sources)",
    ".venv/bin/ruff": "run by .ci/run",
    ".venv/bin/mypy": "run by .ci/run",
    "sqlite3": "SQLite's own shell (Debian package sqlite3): its .backup command, not ours",
}


def shell_lines() -> list[tuple[str, str]]:
    """(page, command) for each command line of each ```sh block (comments cut, `&&` split)."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"^```(?:sh|bash|shell|console)\n(.*?)^```", text, flags=re.S | re.M):
            for line in block.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                name = page.relative_to(REPO).as_posix()
                found += [(name, part.strip()) for part in line.split("&&") if part.strip()]
    return found


LINES = shell_lines()


def test_the_docs_show_commands() -> None:
    commands = {c.split()[0] for _, c in LINES}
    assert {"cafe-monitor", "scripts/run.sh", "scripts/test.sh", "pipx"} <= commands


def cafe_monitor(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cafe_monitor", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, check=False)


def check_cli(args: list[str]) -> None:
    try:
        parsed = build_parser().parse_args(args)  # a wrong option or a missing value exits here
    except SystemExit as exc:
        pytest.fail(f"`cafe-monitor {shlex.join(args)}` is refused by the parser (exit {exc.code})")
    sub = [parsed.command] if parsed.command else []
    helped = cafe_monitor([*sub, "--help"])
    assert helped.returncode == 0 and "usage: cafe-monitor" in helped.stdout, helped.stderr
    if parsed.command == "run" and parsed.headless and any("demo_emotions.mp4" in s for s in parsed.source or []):
        demo = str(ASSETS / "demo_emotions.mp4")
        real = [demo if a.endswith("demo_emotions.mp4") else a for a in args]
        ran = cafe_monitor([*real, "--max-seconds", "4", *(["--no-store"] if "--no-store" not in real else [])])
        assert ran.returncode == 0, ran.stderr
        assert "frames at" in ran.stdout and "score" in ran.stdout


@pytest.mark.parametrize(("page", "command"), LINES, ids=[f"{p}: {c}" for p, c in LINES])
def test_command_works(page: str, command: str) -> None:
    words = shlex.split(command)
    if words[0] == "cafe-monitor":
        check_cli(words[1:])
    elif words[0].startswith("scripts/"):
        script = REPO / words[0]
        assert script.is_file() and script.stat().st_mode & 0o111, f"{page}: {words[0]} missing or not executable"
        assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
        if words[0] == "scripts/run.sh":  # its arguments go to `cafe-monitor run`
            check_cli(["run", *words[1:]])
        if words[0] == "scripts/test.sh" and len(words) > 1:  # its arguments go to pytest: the files exist
            assert all((REPO / w).exists() for w in words[1:] if w.startswith("tests/")), command
    elif words[:2] == ["python", "-m"] and words[2].startswith("cafe_monitor"):
        done = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, timeout=120, cwd=REPO,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        covered = next((why for prefix, why in ELSEWHERE.items() if command.startswith(prefix)), None)
        assert covered, f"{page}: nothing checks `{command}`: run it here or list what covers it in ELSEWHERE"


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_relative_links_lead_somewhere() -> None:
    """Pages moved out of the README: every relative link must reach a file, and its #anchor a heading."""
    broken = []
    for page in PAGES:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)]*))?\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            linked = page.parent / target if target else page
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
                broken.append(f"{page.relative_to(REPO)} -> {target}#{anchor}")
    assert not broken, broken
