"""`monitor check`: every problem of a broken configuration as path:line:col: message."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.errors import Problem
from tests.conftest import ROOT, MakeConfig, RunCli

RULE = """\
rules:
  - id: r1
    query: Libya
    channels: [console]
"""

# A rule between two good ones whose query is nested 1,500 parentheses deep. Parsing it
# used to raise RecursionError out of load_config, so this one rule stopped the daemon.
DEEP_QUERY_RULES = f"""\
rules:
  - id: before
    query: Libya
    channels: [console]
  - id: deep
    query: {"(" * 1500}Tripoli{")" * 1500}
    channels: [console]
  - id: after
    query: Sirte
    channels: [console]
"""

CASES = [
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    querry: Libya
                    channels: [console]
                """
            }
        },
        [
            "config/rules/r.yaml:2:5: missing required field 'query'",
            "config/rules/r.yaml:3:5: unknown key 'querry'",
        ],
        id="misspelled-key",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                """
            }
        },
        ["config/rules/r.yaml:2:5: missing required field 'channels'"],
        id="missing-field",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                    channels: [console, desk]
                """
            }
        },
        ["config/rules/r.yaml:4:25: unknown channel 'desk'; channels are console"],
        id="unknown-channel-in-flow-list",
    ),
    pytest.param(
        {
            "monitor": """\
            channels:
              desk-slack:
                url: ${MONITOR_SLACK_WEBHOOK}
            """,
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                    channels:
                      - desk-slack
                      - desk-email
                """
            },
        },
        # No "desk-slack is not used" warning: the broken rule uses it.
        [
            "config/rules/r.yaml:6:9: unknown channel 'desk-email'; "
            "channels are console, desk-slack",
        ],
        id="unknown-channel-in-block-list",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya AND (Tripoli
                    channels: [console]
                """
            }
        },
        ["config/rules/r.yaml:3:22: query: '(' is never closed"],
        id="query-plain-scalar",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya OR Tripoli)
                    channels: [console]
                """
            }
        },
        ["config/rules/r.yaml:3:28: query: unmatched ')'"],
        id="query-plain-scalar-unmatched-paren",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: "Libya AND (Tripoli"
                    channels: [console]
                """
            }
        },
        ["config/rules/r.yaml:3:23: query: '(' is never closed"],
        id="query-double-quoted",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: 'Libya AND "arms embargo'
                    channels: [console]
                """
            }
        },
        ['config/rules/r.yaml:3:23: query: unclosed quote: add the closing "'],
        id="query-single-quoted",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: "\\"arms embargo\\" AND )"
                    channels: [console]
                """
            }
        },
        # In the file the ')' stands after the two escaped quotes, two characters later
        # than in the query text.
        ["config/rules/r.yaml:3:34: query: unmatched ')'"],
        id="query-double-quoted-with-escapes",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya AND
                    channels: [console]
                """
            }
        },
        ["config/rules/r.yaml:3:21: query: the query ends where a word was expected"],
        id="query-ends-early",
    ),
    pytest.param(
        {
            "rules": {
                "a.yaml": RULE,
                "b.yaml": """\
                rules:
                  - id: r2
                    query: Tripoli
                    channels: [console]
                  - id: r1
                    query: Sirte
                    channels: [console]
                """,
            }
        },
        [
            "config/rules/b.yaml:5:9: duplicate rule id 'r1' "
            "(first defined in config/rules/a.yaml:2)"
        ],
        id="duplicate-rule-id-across-files",
    ),
    pytest.param(
        {
            "feeds": """\
            feeds:
              - name: libya-herald
                url: https://libyaherald.com/feed/
              - name: libya-herald
                url: https://libyaobserver.ly/rss.xml
            """
        },
        ["config/feeds.yaml:4:11: duplicate feed name 'libya-herald'"],
        id="duplicate-feed-name",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                   channels: [console]
                """
            }
        },
        ["config/rules/r.yaml:4:4: YAML: expected <block end>, but found '<block mapping start>'"],
        id="yaml-bad-indentation",
    ),
    pytest.param(
        {
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                    query: Tripoli
                    channels: [console]
                """
            }
        },
        [
            'config/rules/r.yaml:4:5: YAML: found duplicate key "query" with value "Tripoli" '
            '(original value: "Libya")'
        ],
        id="yaml-duplicate-key",
    ),
    pytest.param(
        {"monitor": "poll:\n  interval: 5m\n   tick: 5s\n"},
        ["config/monitor.yaml:3:8: YAML: mapping values are not allowed here"],
        id="yaml-error-in-monitor-yaml",
    ),
    pytest.param(
        {
            "feeds": """\
            feed:
              - name: a
                url: https://example.org/a.xml
            """
        },
        [
            "config/feeds.yaml:1:1: unknown key 'feed' (expected 'feeds')",
            "config/feeds.yaml:1:1: missing 'feeds:' list",
        ],
        id="feeds-yaml-top-level-misspelled",
    ),
    pytest.param(
        {
            "feeds": """\
            - name: a
              url: https://example.org/a.xml
            """
        },
        ["config/feeds.yaml:1:1: expected a mapping with a 'feeds:' list"],
        id="feeds-yaml-top-level-is-a-list",
    ),
    pytest.param(
        {
            "feeds": """\
            feeds:
              name: a
              url: https://example.org/a.xml
            """
        },
        ["config/feeds.yaml:2:3: 'feeds' must be a list"],
        id="feeds-yaml-feeds-is-a-mapping",
    ),
    pytest.param(
        {"feeds": ""},
        ["config/feeds.yaml:1:1: the file is empty; expected a 'feeds:' list"],
        id="feeds-yaml-empty",
    ),
    pytest.param(
        {"feeds": None},
        ["config/feeds.yaml:1:1: file not found"],
        id="feeds-yaml-missing",
    ),
    pytest.param(
        {
            "monitor": """\
            channels: {}
            databse: monitor.db
            """
        },
        ["config/monitor.yaml:2:1: unknown key 'databse'"],
        id="monitor-yaml-unknown-top-level-key",
    ),
    pytest.param(
        {
            "monitor": """\
            poll:
              interval: soon
            """
        },
        ["config/monitor.yaml:2:13: interval: 'soon' is not a duration such as 90s, 5m, 1h"],
        id="poll-interval-not-a-duration",
    ),
    pytest.param(
        {
            "feeds": """\
            feeds:
              - name: a
                url: https://example.org/a.xml
                interval: hourly
            """
        },
        ["config/feeds.yaml:4:15: interval: 'hourly' is not a duration such as 90s, 5m, 1h"],
        id="feed-interval-not-a-duration",
    ),
    pytest.param(
        {
            "feeds": """\
            feeds:
              - name: a
                url: https://example.org/a.xml
                interval: .inf
            """
        },
        ["config/feeds.yaml:4:15: interval: a duration must be finite (got inf)"],
        id="feed-interval-infinite",
    ),
    pytest.param(
        {
            "feeds": """\
            feeds:
              - name: a
                url: https://example.org/a.xml
                interval: 365d
            """
        },
        ["config/feeds.yaml:4:15: interval: '365d' is longer than 30 days"],
        id="feed-interval-longer-than-30-days",
    ),
    pytest.param(
        {
            # A tab cannot indent YAML. monitor.yaml is then unreadable, and its channels
            # unknown: that must not turn every rule's channel into an "unknown channel".
            "monitor": "channels:\n  desk:\n\turl: json://localhost\n",
            "rules": {"r.yaml": "rules:\n  - {id: r1, query: Libya, channels: [desk]}\n"},
        },
        [
            "config/monitor.yaml:3:1: YAML: found character '\\t' that cannot start any token",
        ],
        id="tab-in-monitor-yaml",
    ),
    pytest.param(
        {
            "monitor": "channels: [desk]\n",
            "rules": {"r.yaml": "rules:\n  - {id: r1, query: Libya, channels: [desk]}\n"},
        },
        ["config/monitor.yaml:1:11: channels: expected a mapping of settings"],
        id="channels-not-a-mapping",
    ),
    pytest.param(
        {"feeds": "feeds:\n  - name: a\n    url: ftp://ftp.example.org/feed.xml\n"},
        [
            "config/feeds.yaml:3:10: url: monitor cannot fetch ftp: URLs; "
            "use http://, https://, file:// or a file path"
        ],
        id="feed-url-ftp",
    ),
    pytest.param(
        {"feeds": "feeds:\n  - name: a\n    url: gopher://gopher.example.org/1/feed\n"},
        [
            "config/feeds.yaml:3:10: url: monitor cannot fetch gopher: URLs; "
            "use http://, https://, file:// or a file path"
        ],
        id="feed-url-gopher",
    ),
    pytest.param(
        {"feeds": "feeds:\n  - name: a\n    url: javascript:alert(1)\n"},
        [
            "config/feeds.yaml:3:10: url: monitor cannot fetch javascript: URLs; "
            "use http://, https://, file:// or a file path"
        ],
        id="feed-url-javascript",
    ),
    pytest.param(
        {"feeds": "feeds:\n  - name: a\n    url: localhost:8080/feed.xml\n"},
        [
            "config/feeds.yaml:3:10: url: 'localhost:8080/feed.xml' has no scheme; write http://localhost:8080/feed.xml"
        ],
        id="feed-url-host-and-port-without-scheme",
    ),
    pytest.param(
        {"feeds": "feeds:\n  - name: a\n    url: www.bbc.co.uk/feed.xml\n"},
        [
            "config/feeds.yaml:3:10: url: 'www.bbc.co.uk/feed.xml' is read as a file path, "
            "and there is no such file; for a web address write https://www.bbc.co.uk/feed.xml"
        ],
        id="feed-url-host-without-scheme",
    ),
    pytest.param(
        {"feeds": "feeds:\n  - name: a\n    url: https:///feed.xml\n"},
        ["config/feeds.yaml:3:10: url: 'https:///feed.xml' has no host name"],
        id="feed-url-without-host",
    ),
    pytest.param(
        {"rules": {"r.yaml": DEEP_QUERY_RULES}},
        # The 65th '(' is column 65 of the query, which starts at column 12 of line 6.
        ["config/rules/r.yaml:6:76: query: '(' is nested more than 64 levels deep"],
        id="query-nested-too-deep",
    ),
]


# Set, so that no "not set in the environment" warning joins the lines a test expects.
SECRETS = {"MONITOR_SLACK_WEBHOOK": "json://localhost", "MONITOR_EMAIL_URL": "json://localhost"}


@pytest.mark.parametrize(("files", "expected"), CASES)
def test_check_prints_each_problem_located_and_exits_1(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Any],
    expected: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(**files)

    result = run_cli("check", "--config", str(directory), env=SECRETS)

    assert result.exit_code == 1
    assert result.stdout.splitlines() == expected


TWO_CHANNELS = """\
channels:
  desk-slack:
    url: ${MONITOR_SLACK_WEBHOOK}
  desk-email:
    url: ${MONITOR_EMAIL_URL}
"""
UNUSED_DESK_EMAIL = (
    "config/monitor.yaml:4:3: warning: channel 'desk-email' is not used by any rule, "
    "so nothing can reach it"
)

WARNING_CASES = [
    pytest.param(
        {
            "monitor": TWO_CHANNELS,
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                    channels: [desk-slack]
                """
            },
        },
        [UNUSED_DESK_EMAIL],
        id="unreachable-channel",
    ),
    pytest.param(
        {
            "monitor": """\
            channels:
              desk-email:
                url: ${MONITOR_EMAIL_URL}
            """,
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                    channels: [desk-email]
                    enabled: false
                """
            },
        },
        [
            "config/monitor.yaml:2:3: warning: channel 'desk-email' is not used by any rule, "
            "so nothing can reach it"
        ],
        id="channel-only-a-disabled-rule-reaches",
    ),
    pytest.param(
        {
            "monitor": TWO_CHANNELS,
            "rules": {
                "r.yaml": """\
                rules:
                  - id: r1
                    query: Libya
                    channels: [desk-slack]
                  # - id: r2
                  #   query: Tripoli
                  #   channels: [desk-email]
                """
            },
        },
        [UNUSED_DESK_EMAIL],
        id="the-only-rule-of-a-channel-commented-out",
    ),
    pytest.param(
        {
            "monitor": """\
            channels:
              desk:
                url: "slack://${UNSET_FOR_MONITOR_TEST}/${MONITOR_SLACK_WEBHOOK}"
            """,
            "rules": {"r.yaml": "rules:\n  - {id: r1, query: Libya, channels: [desk]}\n"},
        },
        [
            "config/monitor.yaml:3:10: warning: channel 'desk': UNSET_FOR_MONITOR_TEST not set "
            "in the environment, so this channel cannot send (its alerts are held)"
        ],
        id="unset-variable-in-a-channel-url",
    ),
    pytest.param(
        {
            "monitor": """\
            channels:
              desk: {url: "${UNSET_FOR_MONITOR_TEST}"}
            """,
            "rules": {"r.yaml": "rules:\n  - {id: r1, query: Libya, channels: [console]}\n"},
        },
        [
            "config/monitor.yaml:2:3: warning: channel 'desk' is not used by any rule, "
            "so nothing can reach it",
            "config/monitor.yaml:2:15: warning: channel 'desk': UNSET_FOR_MONITOR_TEST not set "
            "in the environment, so this channel cannot send (its alerts are held)",
        ],
        id="unused-and-unset",
    ),
]


@pytest.mark.parametrize(("files", "expected"), WARNING_CASES)
def test_check_prints_a_warning_located_and_exits_0(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Any],
    expected: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(**files)

    result = run_cli("check", "--config", str(directory), env=SECRETS)

    assert result.exit_code == 0
    assert result.stdout.splitlines() == expected
    assert "(left out)" not in result.output
    count = len(expected)
    assert result.stderr.strip().endswith(f", {count} warning{'s' if count > 1 else ''}")


def test_a_query_nested_too_deep_costs_only_its_rule(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    config = load_config(make_config(rules={"r.yaml": DEEP_QUERY_RULES}))

    assert [r.id for r in config.rules] == ["before", "after"]
    assert config.problems == [
        Problem("config/rules/r.yaml", 6, 76, "query: '(' is nested more than 64 levels deep")
    ]


FOLDED = """\
rules:
  - id: r1
    query: >-
      Libya
      AND (Tripoli
    channels: [console]
"""

BLOCK_CASES = [
    pytest.param(
        FOLDED.replace("Libya\n", "Libya OR )\n"),
        4,
        "unmatched ')'",
        id="folded-error-on-first-line",
    ),
    pytest.param(FOLDED, 5, "'(' is never closed", id="folded-error-on-second-line"),
    pytest.param(
        FOLDED.replace("AND (Tripoli\n", 'AND Tripoli\n      AND "cease fire\n'),
        6,
        'unclosed quote: add the closing "',
        id="folded-error-on-third-line",
    ),
    pytest.param(FOLDED.replace(">-", "|"), 5, "'(' is never closed", id="literal-block"),
]


@pytest.mark.parametrize(("rule_file", "line", "message"), BLOCK_CASES)
def test_check_points_at_the_line_of_a_query_error_inside_a_block_scalar(
    make_config: MakeConfig,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rule_file: str,
    line: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(rules={"r.yaml": rule_file})

    result = run_cli("check", "--config", str(directory))

    assert result.exit_code == 1
    # Only the line is promised inside a block scalar: folding moves words between lines.
    located = [
        re.fullmatch(r"(?P<path>[^:]+):(?P<line>\d+):\d+: (?P<message>.*)", out)
        for out in result.stdout.splitlines()
    ]
    assert [(m["path"], int(m["line"]), m["message"]) for m in located if m] == [
        ("config/rules/r.yaml", line, f"query: {message}")
    ]
    assert len(located) == 1


def test_check_prints_every_problem_of_a_config_one_per_line(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        monitor="""\
        channels:
          desk-slack:
            url: ${MONITOR_SLACK_WEBHOOK}
        """,
        feeds="""\
        feeds:
          - name: a
          - name: b
            url: https://example.org/b.xml
            interval: soon
        """,
        rules={
            "a.yaml": """\
            rules:
              - id: r1
                query: Libya AND
                channels: [console]
              - id: r2
                querry: Tripoli
                channels: [console]
            """,
            "b.yaml": """\
            rules:
              - id: r3
                query: Sirte
                channels: [desk]
            """,
        },
    )

    result = run_cli("check", "--config", str(directory), env=SECRETS)

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "config/feeds.yaml:2:5: missing required field 'url'",
        "config/feeds.yaml:5:15: interval: 'soon' is not a duration such as 90s, 5m, 1h",
        "config/rules/a.yaml:3:21: query: the query ends where a word was expected",
        "config/rules/a.yaml:5:5: missing required field 'query'",
        "config/rules/a.yaml:6:5: unknown key 'querry'",
        "config/rules/b.yaml:4:16: unknown channel 'desk'; channels are console, desk-slack",
    ]


def test_check_prints_every_problem_of_a_broken_monitor_yaml(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        monitor="""\
        poll:
          interval: 5x
          tick: 0s
        channel: {}
        """
    )

    result = run_cli("check", "--config", str(directory))

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "config/monitor.yaml:2:13: interval: '5x' is not a duration such as 90s, 5m, 1h",
        "config/monitor.yaml:3:9: tick: a duration must be positive",
        "config/monitor.yaml:4:1: unknown key 'channel'",
    ]


def test_a_broken_monitor_yaml_does_not_hide_the_problems_of_the_rules(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        monitor="""\
        tik: 5s
        channels:
          desk: {url: "mailto://localhost"}
        """,
        rules={
            "r.yaml": """\
            rules:
              - id: a
                querry: Libya
                channels: [desk]
            """
        },
    )

    result = run_cli("check", "--config", str(directory))

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "config/monitor.yaml:1:1: unknown key 'tik'",
        "config/rules/r.yaml:2:5: missing required field 'query'",
        "config/rules/r.yaml:3:5: unknown key 'querry'",
    ]


def test_check_on_the_bundled_config_exits_0_and_says_what_it_found(run_cli: RunCli) -> None:
    result = run_cli("check", "--config", str(ROOT / "config"), env=SECRETS)

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "ok: 8 feeds, 3 rules, 2 channels"


def test_check_on_the_bundled_config_without_its_secrets_warns_and_exits_0(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)

    result = run_cli("check", "--config", "config")

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "config/monitor.yaml:36:10: warning: channel 'desk-slack': MONITOR_SLACK_WEBHOOK not set "
        "in the environment, so this channel cannot send (its alerts are held)",
        "config/monitor.yaml:40:10: warning: channel 'desk-email': MONITOR_EMAIL_URL not set "
        "in the environment, so this channel cannot send (its alerts are held)",
    ]
    assert result.stderr.strip() == "ok: 8 feeds, 3 rules, 2 channels, 2 warnings"


def test_check_on_a_missing_directory_exits_1(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = run_cli("check", "--config", "nowhere")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["nowhere:1:1: config directory not found"]


def test_check_as_a_subprocess_prints_problems_relative_to_its_working_directory(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    directory = make_config(
        rules={
            "r.yaml": """\
            rules:
              - id: r1
                querry: Libya
                channels: [console]
            """
        }
    )

    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(directory)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "config/rules/r.yaml:2:5: missing required field 'query'",
        "config/rules/r.yaml:3:5: unknown key 'querry'",
    ]


def test_check_as_a_subprocess_accepts_the_bundled_config() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", "config"],
        cwd=ROOT,
        env={**os.environ, **SECRETS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "ok: 8 feeds, 3 rules, 2 channels" in proc.stderr
