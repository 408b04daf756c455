"""`monitor run` and `monitor poll` refuse a configuration that `monitor check` finds an
error in (exit 2, every problem on stderr), and start on one with only warnings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeConfig, RunCli

FEED = (
    '<rss version="2.0"><channel><title>T</title>'
    "<item><title>Misrata report</title><link>https://ex.org/1</link><guid>1</guid></item>"
    "</channel></rss>"
)
RULES = {"r.yaml": "rules:\n  - {id: misrata, query: Misrata, channels: [console]}\n"}

# Each a configuration with one error, and that error as check prints it.
BROKEN = [
    pytest.param(
        {"rules": {"r.yaml": "rules:\n  - id: misrata\n    query: Misrata\n   channels: []\n"}},
        "config/rules/r.yaml:4:4: YAML: expected <block end>, but found '<block mapping start>'",
        id="yaml-typo-in-a-rules-file",
    ),
    pytest.param(
        {"feeds": "feeds: [oops\n"},
        "config/feeds.yaml:2:1: YAML: expected ',' or ']', but got '<stream end>'",
        id="yaml-typo-in-feeds-yaml",
    ),
    pytest.param(
        {"monitor": "poll:\n  interval: 5\n"},
        "config/monitor.yaml:2:13: interval: 5 has no unit; write e.g. 5s or 5m",
        id="duration-without-a-unit",
    ),
    pytest.param(
        {"feeds": "feeds:\n  - {name: a, url: 'ftp://example.org/a.xml'}\n"},
        "config/feeds.yaml:2:20: url: monitor cannot fetch ftp: URLs; "
        "use http://, https://, file:// or a file path",
        id="feed-url-fetch-cannot-read",
    ),
    pytest.param(
        {"rules": {}},
        "config/rules:1:1: no rule files (rules/*.yaml)",
        id="no-rules",
    ),
]


def refused(directory: Path) -> str:
    """The last line of a refusal to start over one error."""
    return (
        f"Error: the configuration in {directory} has 1 error (above); "
        "not starting until they are fixed"
    )


def write_feed_config(make_config: MakeConfig, tmp_path: Path, files: dict[str, Any]) -> Path:
    (tmp_path / "wire.xml").write_text(FEED)
    defaults: dict[str, Any] = {
        "feeds": f"feeds:\n  - {{name: wire, url: '{tmp_path / 'wire.xml'}'}}\n",
        "rules": RULES,
    }
    return make_config(**{**defaults, **files})


@pytest.mark.parametrize("command", [["poll", "--once"], ["run"]])
@pytest.mark.parametrize(("files", "problem"), BROKEN)
def test_an_error_stops_run_and_poll_with_exit_2_and_the_problem_as_check_prints_it(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    files: dict[str, Any],
    problem: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = write_feed_config(make_config, tmp_path, files)
    db = tmp_path / "m.db"

    result = run_cli(*command, "--config", str(directory), "--db", str(db))
    check = run_cli("check", "--config", str(directory))

    assert result.exit_code == 2
    assert check.exit_code == 1
    assert check.stdout.splitlines() == [problem]
    *problems, refusal = result.stderr.splitlines()
    assert problems == [problem]
    assert refusal == refused(directory)
    assert result.stdout == ""
    assert not db.exists()  # not opened: nothing polled, nothing marked seen


def test_every_error_and_warning_is_printed_before_refusing(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = write_feed_config(
        make_config,
        tmp_path,
        {
            "monitor": "channels:\n  spare: {url: 'json://localhost'}\n",
            "feeds": "feeds:\n  - {name: a, url: www.example.org/a.xml, interval: 10}\n",
        },
    )

    result = run_cli("poll", "--once", "--config", str(directory))

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "config/feeds.yaml:2:53: interval: 10 has no unit; write e.g. 10s or 10m",
        "config/monitor.yaml:2:3: warning: channel 'spare' is not used by any rule, "
        "so nothing can reach it",
        refused(directory),
    ]


def test_a_broken_monitor_yaml_stops_poll_with_exit_2_too(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = write_feed_config(make_config, tmp_path, {"monitor": "tik: 5s\n"})

    result = run_cli("poll", "--once", "--config", str(directory))

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "config/monitor.yaml:1:1: unknown key 'tik'"


def test_warnings_are_printed_and_poll_runs(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = write_feed_config(
        make_config,
        tmp_path,
        {"monitor": "channels:\n  spare:\n    url: '${UNSET_FOR_MONITOR_TEST}'\n"},
    )

    result = run_cli("poll", "--once", "--config", str(directory), "--db", str(tmp_path / "m.db"))

    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "config/monitor.yaml:2:3: warning: channel 'spare' is not used by any rule, "
        "so nothing can reach it",
        "config/monitor.yaml:3:10: warning: channel 'spare': UNSET_FOR_MONITOR_TEST not set "
        "in the environment, so this channel cannot send (its alerts are held)",
    ]
    assert "(left out)" not in result.stderr
    assert "Misrata report" in result.stdout


def test_the_read_only_commands_say_left_out_only_for_what_was_left_out(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = write_feed_config(
        make_config,
        tmp_path,
        {
            "monitor": "channels:\n  spare: {url: 'json://localhost'}\n",
            "feeds": "feeds:\n  - {name: gone, url: gone.xml}\n",
        },
    )

    with caplog.at_level(logging.INFO, logger="monitor"):
        result = run_cli("match", "--config", str(directory), str(tmp_path / "wire.xml"))

    assert result.exit_code == 0, result.output
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.ERROR,
            f"config: config/feeds.yaml:2:23: url: no such file {directory.resolve()}/gone.xml "
            "(left out)",
        ),
        (
            logging.WARNING,
            "config: config/monitor.yaml:2:3: warning: channel 'spare' is not used by any rule, "
            "so nothing can reach it",
        ),
    ]
    assert result.stdout.startswith("misrata\tMisrata report\t")
