"""The public surface is documented: every command has help and a README row, the README
shows the two set-up commands, and the systemd unit runs what the CLI provides."""

from __future__ import annotations

import configparser
import re
import shlex

import click
import pytest

from monitor.cli import cli
from tests.conftest import ROOT, RunCli

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


def test_the_readme_shows_the_two_commands_on_its_first_screen() -> None:
    first_screen = "\n".join(README.splitlines()[:30])
    assert "make run" in first_screen and "make test" in first_screen


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_a_readme_row(name: str, run_cli: RunCli) -> None:
    command = cli.commands[name]
    assert command.help and command.help.strip(), f"{name} has no help text"
    assert f"`monitor {name}" in README, f"README does not document `monitor {name}`"
    result = run_cli(name, "--help")
    assert result.exit_code == 0
    assert "--config" in result.stdout and "--db" in result.stdout


def test_every_option_has_help() -> None:
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"monitor {name} {param.opts[0]} has no help"


def test_the_systemd_unit_runs_the_daemon_with_the_paths_the_cli_reads() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "systemd" / "monitor.service")
    service = unit["Service"]
    assert shlex.split(service["ExecStart"])[-1] == "run"
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "always"
    env = dict(
        re.findall(r"Environment=(\w+)=(\S+)", (ROOT / "systemd" / "monitor.service").read_text())
    )
    # The CLI reads exactly these variables for --config and --db.
    options = {p.name: p for p in cli.commands["run"].params}
    assert isinstance(options["config_dir"], click.Option)
    assert isinstance(options["db"], click.Option)
    assert options["config_dir"].envvar in env
    assert options["db"].envvar in env
    assert env["MONITOR_DB"].startswith("/var/lib/monitor/")
    assert "StateDirectory" in service and service["StateDirectory"] == "monitor"


def test_architecture_names_every_module() -> None:
    architecture = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    package = ROOT / "monitor"
    modules = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if p.name not in {"__init__.py", "__main__.py"}
    ]
    missing = [m for m in modules if f"`{m}`" not in architecture]
    assert not missing, f"ARCHITECTURE.md's module table does not name {missing}"
