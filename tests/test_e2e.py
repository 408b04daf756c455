"""End to end: `monitor run` as a real subprocess, feeds on a loopback HTTP server, email
into a real SMTP server, the bundled config and its founding-article seed feed."""

from __future__ import annotations

import email.utils
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import ROOT, Mailbox, free_port, html_part

pytestmark = pytest.mark.e2e

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>https://example.org/</link>
{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>
<pubDate>{published}</pubDate><description>{text}</description></item>"""
# Minutes old, as a story just published: older ones are a backlog and do not alert.
PUBLISHED = email.utils.format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)

MATCHING = {
    "title": "Ceasefire broken as fighting reaches Abu Qurayn near Misrata",
    "link": "https://news.example.org/libya/ceasefire-broken",
    "guid": "story-1",
    "text": "Forces loyal to Haftar broke the truce on Sunday near Misurata.",
}
QUIET = {
    "title": "Markets steady",
    "link": "https://news.example.org/markets",
    "guid": "story-0",
    "text": "Nothing about the watch list here.",
}
QUIET_OTHER = dict(QUIET, link="https://other.example.org/weather", title="Weather")


def feed(title: str, *items: dict[str, str]) -> str:
    return FEED.format(
        title=title,
        items="".join(ITEM.format(**{"published": PUBLISHED, **item}) for item in items),
    )


class Daemon:
    """`python -m monitor run` in a subprocess, its stderr collected line by line."""

    def __init__(self, config: Path, db: Path, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        full_env.update(env or {}, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "monitor", "--log-level", "debug", "run"]
        self.proc = subprocess.Popen(
            [*command, "--config", str(config), "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=config.parent,
        )
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until `count` stderr lines match `pattern`."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            if sum(1 for line in list(self.stderr) if regex.search(line)) >= count:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {count}x {pattern!r} in:\n{''.join(self.stderr)}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self._close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


def test_the_daemon_emails_a_matching_story_once_across_restarts_and_outlets(
    tmp_path: Path, httpserver: HTTPServer, mailbox: Mailbox, daemons: list[Daemon]
) -> None:
    served = {"/wire.xml": feed("Wire", QUIET), "/other.xml": feed("Other", QUIET_OTHER)}

    def handler(request: Request) -> Response:
        return Response(served[request.path], content_type="application/rss+xml")

    for path in served:
        httpserver.expect_request(path).respond_with_handler(handler)

    config = tmp_path / "config"
    (config / "rules").mkdir(parents=True)
    (config / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        poll: {{interval: 1s, tick: 0.3s, workers: 2}}
        channels:
          desk-email:
            url: {mailbox.url()}
        """)
    )
    (config / "feeds.yaml").write_text(
        textwrap.dedent(f"""\
        feeds:
          - {{name: wire, title: Wire Service, url: "{httpserver.url_for("/wire.xml")}"}}
          - {{name: other, title: Other Outlet, url: "{httpserver.url_for("/other.xml")}"}}
        """)
    )
    (config / "rules" / "libya.yaml").write_text(
        textwrap.dedent("""\
        rules:
          - id: libya-ceasefire-breach
            name: Libya cease-fire breach
            query: (Misrata~ OR Misurata) AND (ceasefire OR truce) AND (broke OR broken)
            channels: [desk-email]
        """)
    )
    db = tmp_path / "monitor.db"

    daemon = Daemon(config, db)
    daemons.append(daemon)
    daemon.wait_for(r"feed=wire polled: 1 story, 1 new, 0 alerts")

    served["/wire.xml"] = feed("Wire", QUIET, MATCHING)
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == f"[monitor] Libya cease-fire breach: {MATCHING['title']}"
    body = html_part(message)
    assert f'<a href="{MATCHING["link"]}" style="color:#1a1a1a;">{MATCHING["title"]}</a>' in body
    assert "<b>Libya cease-fire breach</b>" in body
    for word in ("Misrata", "Ceasefire", "broken", "Misurata", "truce", "broke"):
        assert word in body.split("Why this alert")[1]
    assert daemon.stop(signal.SIGTERM) == 0
    assert any("monitor stopped" in line for line in daemon.stderr)

    # A restart polls the same feed again: the story is known, nothing is sent.
    again = Daemon(config, db)
    daemons.append(again)
    # (The same body as before the restart is not even parsed again.)
    again.wait_for(r"feed=wire unchanged", count=2)

    # The same story in a second outlet, its link dressed with tracking parameters.
    tracked = dict(
        MATCHING, guid="other-1", link=MATCHING["link"] + "?utm_source=rss&at_medium=RSS"
    )
    served["/other.xml"] = feed("Other", QUIET_OTHER, tracked)
    again.wait_for(r"feed=other polled: 2 stories, 0 new, 0 alerts")
    again.wait_for(r"feed=other unchanged", count=2)
    assert again.stop(signal.SIGINT) == 0
    assert len(mailbox.messages) == 1


def test_the_bundled_config_prints_the_founding_articles_alerts_within_seconds(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    # The bundled config, with the public feeds pointed at a loopback port that refuses
    # connections: what an offline machine sees, without touching the internet.
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (tmp_path / "seeds").mkdir()
    shutil.copy(ROOT / "seeds" / "founding-article.rss", tmp_path / "seeds")
    dead = f"http://127.0.0.1:{free_port()}/feed.xml"
    feeds_yaml = config / "feeds.yaml"
    feeds_yaml.write_text(re.sub(r"https://\S+", dead, feeds_yaml.read_text()))
    db = tmp_path / "monitor.db"

    started = time.monotonic()
    daemon = Daemon(config, db)
    daemons.append(daemon)
    daemon.wait_for(
        r"alert=2 channel=\S+ .* held \(printed to the console as a preview\)", timeout=20
    )
    assert time.monotonic() - started < 20
    daemon.wait_for(r"feed=bbc-world poll failed: ConnectError")
    assert daemon.stop(signal.SIGINT) == 0
    out = "".join(daemon.stdout)
    assert out.count("11 Libyan soldiers killed in clashes with Haftar loyalists") == 2
    assert "[desk-slack]" in out and "[desk-email]" in out
    assert "libya-ceasefire-breach" in out and "libya-named-towns" in out
    # One clear line per unreachable feed, no traceback.
    assert "Traceback" not in "".join(daemon.stderr)

    # Again, over every feed whether due or not: the story is known, nothing is printed.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "poll",
            "--once",
            "--config",
            str(config),
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "Libyan soldiers" not in again.stdout
    assert "polled 8 feeds (7 failed): 0 new stories, 0 alerts sent" in again.stderr


def monitor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m monitor ARGS` to its end, without any MONITOR_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_a_yaml_typo_in_a_rules_file_stops_the_daemon_and_eats_no_stories(
    tmp_path: Path, httpserver: HTTPServer, mailbox: Mailbox
) -> None:
    # Published now, so that no backlog rule could explain a missing alert.
    fresh = (
        "<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<pubDate>{formatdate(usegmt=True)}</pubDate><description>{{text}}</description></item>"
    )
    body = FEED.format(title="Wire", items=fresh.format(**MATCHING) + fresh.format(**QUIET))
    httpserver.expect_request("/wire.xml").respond_with_data(
        body, content_type="application/rss+xml"
    )
    config = tmp_path / "config"
    (config / "rules").mkdir(parents=True)
    (config / "monitor.yaml").write_text(
        f"channels:\n  desk-email:\n    url: {mailbox.url()}\n", encoding="utf-8"
    )
    (config / "feeds.yaml").write_text(
        f"feeds:\n  - {{name: wire, url: '{httpserver.url_for('/wire.xml')}'}}\n",
        encoding="utf-8",
    )
    good = textwrap.dedent("""\
        rules:
          - id: libya-ceasefire-breach
            query: (Misrata~ OR Misurata) AND (ceasefire OR truce) AND (broke OR broken)
            channels: [desk-email]
        """)
    rules = config / "rules" / "libya.yaml"
    rules.write_text(good.replace("    channels:", "   channels:"), encoding="utf-8")
    db = tmp_path / "monitor.db"
    typo = "config/rules/libya.yaml:4:4: YAML: expected <block end>, but found "

    for command in (["run"], ["poll", "--once"]):
        refused = monitor(*command, "--config", "config", "--db", str(db), cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith(typo), refused.stderr
        assert "not starting until they are fixed" in refused.stderr
        assert not db.exists()  # no story stored, so none marked seen
    assert httpserver.log == []  # and the feed was not even fetched
    assert mailbox.messages == []

    rules.write_text(good, encoding="utf-8")
    fixed = monitor("poll", "--once", "--config", "config", "--db", str(db), cwd=tmp_path)

    assert fixed.returncode == 0, fixed.stderr
    [message] = mailbox.wait_for(1)
    assert MATCHING["title"] in message["Subject"]
