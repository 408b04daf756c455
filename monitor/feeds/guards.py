"""Guards at the edge of fetching: which addresses may be connected to, which local paths
may be read, and the hard deadline every socket operation of a request is held to.

The address policy is checked on the address a host name resolves to, in the network
backend that opens every connection, so it holds after DNS and on every redirect hop (each
new host is a new connection), and nothing is sent to a refused address. Link-local and
cloud-metadata ranges (169.254.0.0/16, fe80::/10) are always refused; private and loopback
ranges are allowed unless `poll.deny_private` says otherwise (self-hosted feeds live there).
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import socket
import stat
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore

from monitor.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never reachable from a feed, whatever the settings: link-local, where cloud metadata
# services answer (169.254.169.254, fd00:ec2::254 is inside ULA below only with deny_private).
_ALWAYS_REFUSED = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses a fetch may connect to."""

    deny_private: bool = False

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why `address` may not be connected to, in words, or None when it may."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if any(ip in net for net in _ALWAYS_REFUSED):
            return f"{ip} is a link-local address (cloud metadata lives there); always refused"
        if self.deny_private and (
            ip.is_private or ip.is_loopback or ip.is_unspecified or ip.is_reserved
        ):
            return f"{ip} is a private or loopback address, refused by poll.deny_private"
        if ip.is_multicast:
            return f"{ip} is a multicast address"
        return None


class AddressRefused(httpcore.ConnectError):
    """No address of a host may be connected to under the policy."""


# The monotonic time by which the request running in this thread must be over, or None.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "fetch_deadline", default=None
)


class Deadline:
    """A hard limit on the whole of one request: connect, TLS, headers, body, redirects.

    httpx's read timeout applies to each read, so a server that sends a byte a second would
    hold a request forever. While a Deadline is entered, every socket operation of this
    thread's request is given at most the time left (CPython bounds a whole TLS handshake or
    sendall by one timeout), so the request ends when its time is up, on a new connection or
    on one reused from the pool alike.
    """

    def __init__(self, seconds: float) -> None:
        self.message = f"no complete response within {seconds:g}s"
        self._ends = time.monotonic() + seconds
        self._token: contextvars.Token[float | None] | None = None

    def __enter__(self) -> Deadline:
        self._token = _deadline.set(self._ends)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _deadline.reset(self._token)

    def passed(self) -> bool:
        return time.monotonic() >= self._ends


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout`, shortened to the time left before this thread's deadline."""
    ends = _deadline.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise error("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake keeps to the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# getaddrinfo has no timeout of its own: a resolver that never answers would hold a fetch
# past its deadline. Look-ups run here and are waited for only as long as the deadline
# allows; one stuck look-up holds one of these threads, never a fetch.
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="resolve")


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, each once."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]  # a literal needs no look-up
    except ValueError:
        pass
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"no answer resolving {host}") from None
    except socket.gaierror as e:
        raise httpcore.ConnectError(f"cannot resolve {host}: {e.strerror}") from e
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the address policy and the deadline: resolves the
    host itself, refuses what the policy refuses, connects to an allowed address."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        addresses = _resolve(host, port, bounded)
        refusals = [(a, self.policy.refusal(a.split("%", 1)[0])) for a in addresses]
        allowed = [a for a, why in refusals if why is None]
        if not allowed:
            reason = next(why for _, why in refusals if why) if refusals else "no address"
            raise AddressRefused(f"{host} resolves to {reason}")
        last: Exception | None = None
        for address in allowed:
            try:
                stream = self._inner.connect_tcp(
                    address, port, bounded, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
                continue
            return _BoundedStream(stream)
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not feeds")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def read_local(path: Path, max_bytes: int) -> bytes:
    """A local feed file's bytes, at most `max_bytes` (FetchError past it). Only a regular
    file is read: a FIFO or a device would block or never end, so it is refused without
    waiting (opened non-blocking, then checked by its descriptor, so it cannot be swapped)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FetchError(f"cannot read {path}: {e.strerror or e}", permanent=True) from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a folder"
                if stat.S_ISDIR(mode)
                else "not a regular file"
            )
            raise FetchError(f"cannot read {path}: it is {kind}, not a file", permanent=True)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            content = f.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(content) > max_bytes:
        raise FetchError(f"file is larger than {max_bytes} bytes")
    return content
