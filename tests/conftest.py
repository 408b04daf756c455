"""Shared fixtures: the corpus beside the repo, throw-away config directories, the CLI."""

from __future__ import annotations

import email
import email.policy
import errno
import importlib.util
import socket
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from click.testing import CliRunner, Result

from monitor.cli import cli
from monitor.store import Store
from monitor.store.memory import MemoryStore
from monitor.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture
def corpus() -> Path:
    """../shared/corpus, which CI always has; skipped (with the reason) only where it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"needs the shared corpus at {CORPUS} (absent on this machine)")
    return CORPUS


def load_bench_script(name: str) -> ModuleType:
    """bench/<name>.py as a module: the bench scripts are scripts, not package modules."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Every Store backend: the contract tests (tests/store/) and the pipeline's tests run against
# each. A PostgreSQL backend becomes one more entry here.
BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each backend in turn."""
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "s.db")
    yield store
    store.close()


MakeConfig = Callable[..., Path]


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """Write a config directory: make_config(monitor=..., feeds=..., rules={"a.yaml": ...}).

    Each text is dedented. Omitted files get small valid defaults; pass None to leave a
    file out entirely.
    """

    def make(
        *,
        monitor: str | None = "channels: {}\n",
        feeds: str | None = "feeds: []\n",
        rules: dict[str, str] | None = None,
        name: str = "config",
    ) -> Path:
        directory = tmp_path / name
        (directory / "rules").mkdir(parents=True, exist_ok=True)
        if monitor is not None:
            (directory / "monitor.yaml").write_text(textwrap.dedent(monitor), encoding="utf-8")
        if feeds is not None:
            (directory / "feeds.yaml").write_text(textwrap.dedent(feeds), encoding="utf-8")
        if rules is None:
            rules = {
                "rules.yaml": """\
                rules:
                  - id: libya
                    query: Libya
                    channels: [console]
                """
            }
        for filename, text in rules.items():
            (directory / "rules" / filename).write_text(textwrap.dedent(text), encoding="utf-8")
        return directory

    return make


RunCli = Callable[..., Result]


@pytest.fixture
def run_cli() -> RunCli:
    """Invoke the `monitor` command in-process: run_cli("check", "--config", str(dir))."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return run


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """A real SMTP server (aiosmtpd) on loopback, and the messages it received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"

    def url(self, to: str = "desk@example.org") -> str:
        """The apprise URL that sends to this server."""
        return f"mailto://127.0.0.1:{self.port}?from=monitor@example.org&to={to}"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        """Wait until `count` messages have arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


def html_part(message: EmailMessage) -> str:
    """The text/html body of an email."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "the email has no HTML part"
    return str(part.get_content())


MAILBOX_ATTEMPTS = 5


def start_mailbox(
    attempts: int = MAILBOX_ATTEMPTS, box_type: type[Mailbox] = Mailbox, **smtp: Any
) -> tuple[Mailbox, Controller]:
    """Start a Mailbox's SMTP server on a free loopback port; the caller stops the controller.
    `box_type` may answer differently; `smtp` goes to aiosmtpd's SMTP (e.g. authenticator).

    free_port() lets go of its port before aiosmtpd binds it, so another process can take it
    in between: a start that fails because the address is in use is retried on a fresh port.
    """
    for attempt in range(1, attempts + 1):
        box = box_type(free_port())
        controller = Controller(box, hostname="127.0.0.1", port=box.port, **smtp)
        try:
            controller.start()
        except OSError as e:
            # A failed start leaves its (finished) thread and never-run loop behind.
            controller.stop(no_assert=True)
            controller.loop.close()
            if e.errno != errno.EADDRINUSE or attempt == attempts:
                raise
            continue
        return box, controller
    raise AssertionError("unreachable: the last attempt returns or raises")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on a loopback port for the length of one test."""
    box, controller = start_mailbox()
    try:
        yield box
    finally:
        controller.stop()
