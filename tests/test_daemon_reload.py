"""`monitor run` under a service manager: it says READY=1 on systemd's notify socket, pets
the watchdog, and on SIGHUP takes a valid new configuration without a restart (a feed added
is polled at once) or refuses a broken one whole, logging the problem at path:line:col and
running on. A real subprocess, a real datagram socket, real files."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.test_e2e import Daemon

pytestmark = pytest.mark.e2e

RSS = (
    '<rss version="2.0"><channel><title>{name}</title><item><title>{title}</title>'
    "<link>https://ex.org/{name}</link><guid>{name}-1</guid></item></channel></rss>"
)


def notifications(sock: socket.socket, until: str, timeout: float = 30.0) -> list[str]:
    """What the daemon sent on the notify socket, until a message containing `until`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in seen[-1]:
            return seen
    raise AssertionError(f"no {until!r} in {seen}")


def test_sighup_reloads_a_good_config_and_refuses_a_broken_one(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "rules").mkdir(parents=True)
    stories = (
        ("wire", "Misrata shelled"),
        ("extra", "Dockers strike in Benghazi over unpaid wages"),
    )
    for name, title in stories:
        (tmp_path / f"{name}.xml").write_text(RSS.format(name=name, title=title))
    (config / "monitor.yaml").write_text("poll: {interval: 1h, tick: 0.5s}\n")
    feeds = config / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - {{name: wire, url: '{tmp_path / 'wire.xml'}', backlog: alert}}\n"
    )
    (config / "rules" / "r.yaml").write_text(
        "rules:\n  - {id: libya, query: 'Misrata OR Benghazi', channels: [console]}\n"
    )
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    daemon = Daemon(
        config, tmp_path / "m.db", env={"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "2000000"}
    )
    try:
        ready = notifications(sock, "READY=1")
        assert any("STATUS=1 feeds" in n for n in ready)
        daemon.wait_for(r"feed=wire polled: 1 story, 1 new")
        assert "WATCHDOG=1" in notifications(sock, "WATCHDOG=1", timeout=10)
        # A feed added: taken on SIGHUP, polled at once, its story alerted.
        feeds.write_text(
            feeds.read_text()
            + f"  - {{name: extra, url: '{tmp_path / 'extra.xml'}', backlog: alert}}\n"
        )
        daemon.proc.send_signal(signal.SIGHUP)
        assert any("RELOADING=1" in n for n in notifications(sock, "reloaded: 2 feeds"))
        daemon.wait_for(r"feed=extra polled: 1 story, 1 new")
        daemon.wait_for(r"alert=2 channel=console story='Dockers strike in Benghazi.*' sent")
        # A broken one: refused whole, located, and the daemon runs on with the old one.
        feeds.write_text("feeds:\n  - {name: broken, url: \n\t\n")
        daemon.proc.send_signal(signal.SIGHUP)
        notifications(sock, "reload refused")
        daemon.wait_for(r"reload: config/feeds\.yaml:4:1: YAML: ")
        daemon.wait_for(r"reload refused: .* 1 error; still running the previous one in full")
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
    finally:
        daemon.kill()
        sock.close()
