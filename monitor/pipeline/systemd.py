"""systemd's notify protocol (sd_notify), in a few lines and no dependency: READY=1 once the
daemon runs, RELOADING=1 / READY=1 around a reload, STOPPING=1 on the way out, WATCHDOG=1
every half of `WatchdogSec`, and a STATUS= line for `systemctl status`.

Every call is a no-op (returning False) when not run by systemd ($NOTIFY_SOCKET unset), and
never raises: a lost notification must not stop the daemon.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


def notify(*fields: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `fields` ("READY=1", "STATUS=…") to systemd. True when sent."""
    env = os.environ if env is None else env
    address = env.get("NOTIFY_SOCKET", "")
    if not address or not fields:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False  # vsock and other forms are not for a service like this one
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode("utf-8"))
    except OSError:
        return False
    return True


def ready(status: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """The daemon is up: its store is open and its jobs are scheduled."""
    return notify("READY=1", *([f"STATUS={status}"] if status else []), env=env)


def reloading(env: Mapping[str, str] | None = None) -> bool:
    """A reload has begun (send `ready()` when it is over, whatever its outcome)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}", env=env)


def stopping(env: Mapping[str, str] | None = None) -> bool:
    """The daemon is shutting down."""
    return notify("STOPPING=1", env=env)


def status(text: str, env: Mapping[str, str] | None = None) -> bool:
    """One line for `systemctl status`."""
    return notify(f"STATUS={text}", env=env)


def watchdog(env: Mapping[str, str] | None = None) -> bool:
    """Still alive."""
    return notify("WATCHDOG=1", env=env)


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """How often to send `watchdog()`, in seconds: half of WatchdogSec, as systemd advises;
    None when no watchdog is set for this process."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (a parent that exec'd us)
    return int(usec) / 1_000_000 / 2
