"""sd_notify over a real Unix datagram socket, and the unit file's promises."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.pipeline import systemd
from tests.conftest import ROOT

UNIT = ROOT / "systemd" / "monitor.service"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, {"NOTIFY_SOCKET": str(path)}
    sock.close()


def test_each_message_reaches_the_socket(
    notify_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = notify_socket
    assert systemd.ready("polling 3 feeds", env=env)
    assert sock.recv(4096) == b"READY=1\nSTATUS=polling 3 feeds"
    assert systemd.watchdog(env=env)
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert systemd.stopping(env=env)
    assert sock.recv(4096) == b"STOPPING=1"
    assert systemd.status("reload refused: 1 error", env=env)
    assert sock.recv(4096) == b"STATUS=reload refused: 1 error"
    assert systemd.reloading(env=env)
    assert re.fullmatch(rb"RELOADING=1\nMONOTONIC_USEC=\d+", sock.recv(4096))


def test_an_abstract_socket_is_reached_too() -> None:
    name = f"monitor-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert systemd.ready(env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"NOTIFY_SOCKET": ""},
        {"NOTIFY_SOCKET": "/nonexistent/notify"},
        {"NOTIFY_SOCKET": "vsock:2:1"},
    ],
)
def test_without_systemd_every_call_is_a_harmless_no(env: dict[str, str]) -> None:
    assert systemd.ready(env=env) is False
    assert systemd.watchdog(env=env) is False


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "120000000"}, 60.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())}, 60.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdogsec(
    env: dict[str, str], interval: float | None
) -> None:
    assert systemd.watchdog_interval(env) == interval


def service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    return unit["Service"]


def test_the_unit_notifies_has_a_watchdog_and_reloads_with_sighup() -> None:
    s = service()
    assert s["Type"] == "notify"
    assert s["NotifyAccess"] == "main"
    assert int(s["WatchdogSec"]) > 0
    assert s["ExecReload"].split() == ["/bin/kill", "-HUP", "$MAINPID"]
    assert s["IPAddressDeny"].split() == ["169.254.0.0/16", "fe80::/10"]
    assert s["CapabilityBoundingSet"] == ""
    assert s["UMask"] == "0077"


def test_every_setting_of_the_service_is_explained_by_a_comment() -> None:
    # Each run of settings in [Service] (lines with no blank line between them) follows a
    # comment that says what they are for.
    lines = UNIT.read_text().splitlines()
    service_lines = lines[lines.index("[Service]") + 1 : lines.index("[Install]")]
    unexplained = []
    previous = ""
    for line in service_lines:
        if re.match(r"^[A-Z]\w+=", line) and not (
            previous.startswith("#") or re.match(r"^[A-Z]\w+=", previous)
        ):
            unexplained.append(line)
        previous = line
    assert unexplained == []


def test_systemd_analyze_scores_the_unit_two_or_lower() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        # Where systemd is absent, the settings that earn the score are checked instead.
        s = service()
        for key in ("ProtectClock", "ProtectKernelLogs", "ProtectHostname", "RestrictRealtime"):
            assert s[key] == "true"
        assert (s["ProtectProc"], s["ProcSubset"]) == ("invisible", "pid")
        assert "@system-service" in UNIT.read_text()
        return
    out = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert score is not None, out[-2000:]
    assert float(score[1]) <= 2.0
