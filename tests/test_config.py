"""load_config: the bundled config, durations, overrides, and what a broken file costs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from monitor.config import MAX_DURATION, load_config, parse_duration
from monitor.errors import ConfigError, Problem
from monitor.models import BacklogPolicy
from tests.conftest import ROOT, MakeConfig

BUNDLED = ROOT / "config"

ONE_RULE = {
    "r.yaml": """\
    rules:
      - id: r1
        query: Libya
        channels: [console]
    """
}


# The bundled config


def test_the_bundled_config_loads_without_problems() -> None:
    config = load_config(BUNDLED)

    assert config.problems == []
    assert len(config.feeds) == 8
    assert [r.id for r in config.rules] == [
        "libya-ceasefire-breach",
        "libya-arms-embargo-flights",
        "libya-named-towns",
    ]
    assert sorted(config.channels) == ["desk-email", "desk-slack"]


def test_the_seed_feeds_relative_path_is_resolved_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repo: the path must not depend on the cwd

    seed = next(f for f in load_config(BUNDLED).feeds if f.name == "seed")

    assert seed.url == str(ROOT / "seeds" / "founding-article.rss")
    assert Path(seed.url).is_file()


def test_the_bundled_feeds_keep_their_titles_and_tags() -> None:
    feeds = {f.name: f for f in load_config(BUNDLED).feeds}

    assert feeds["seed"].title == "The New Arab (founding article)"
    assert feeds["seed"].tags == ("seed",)
    assert feeds["aljazeera"].url == "https://www.aljazeera.com/xml/rss/all.xml"


def test_a_feeds_interval_overrides_poll_interval_in_the_bundled_config() -> None:
    config = load_config(BUNDLED)
    intervals = {f.name: f.interval for f in config.feeds}

    assert config.settings.poll.interval == 300.0
    assert intervals["seed"] == 60.0
    assert intervals["un-news-africa"] == 900.0
    assert intervals["reliefweb-libya"] == 1800.0
    assert intervals["aljazeera"] == 300.0


def test_channel_variables_are_left_for_notify_to_expand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONITOR_SLACK_WEBHOOK", "https://hooks.slack.com/services/T0/B0/x")
    monkeypatch.setenv("MONITOR_EMAIL_URL", "mailtos://u:p@smtp.example.org")

    config = load_config(BUNDLED)

    assert config.channels["desk-slack"].url == "${MONITOR_SLACK_WEBHOOK}"
    assert config.channels["desk-email"].url == "${MONITOR_EMAIL_URL}"


# Durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("90s", 90.0, id="seconds"),
        pytest.param("5m", 300.0, id="minutes"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("1d", 86400.0, id="days"),
        pytest.param("1.5h", 5400.0, id="fraction"),
        pytest.param("2.5s", 2.5, id="fraction-of-seconds"),
        pytest.param(" 5 m ", 300.0, id="spaces"),
        pytest.param("30d", 30 * 86400.0, id="30-days-is-the-longest"),
        pytest.param("720h", 30 * 86400.0, id="30-days-in-hours"),
        pytest.param(f"{MAX_DURATION}s", 30 * 86400.0, id="30-days-in-seconds"),
    ],
)
def test_a_duration_parses_to_seconds(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("soon", id="word"),
        pytest.param("5 minutes", id="spelled-unit"),
        pytest.param("1w", id="unknown-unit"),
        pytest.param("-5m", id="negative-text"),
        pytest.param("", id="empty"),
        pytest.param("0s", id="zero"),
        pytest.param(True, id="bool"),
        pytest.param("inf", id="inf-text"),
        pytest.param("nan", id="nan-text"),
    ],
)
def test_a_bad_duration_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(math.inf, id="inf"),
        pytest.param(-math.inf, id="minus-inf"),
        pytest.param(math.nan, id="nan"),
    ],
)
def test_a_duration_that_is_not_finite_is_refused(value: float) -> None:
    # nan compares false with everything, so it would pass a plain "<= 0" check.
    with pytest.raises(ValueError, match=r"^a duration must be finite"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("31d", "'31d' is longer than 30 days", id="31-days"),
        pytest.param("721h", "'721h' is longer than 30 days", id="hours"),
        pytest.param(f"{MAX_DURATION + 1}s", "'2592001s' is longer than 30 days", id="seconds"),
        # float() of this text is inf.
        pytest.param("1" + "0" * 400 + "s", "is longer than 30 days", id="huge-text"),
    ],
)
def test_a_duration_longer_than_30_days_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(5, "5 has no unit; write e.g. 5s or 5m", id="int"),
        pytest.param(300, "300 has no unit; write e.g. 300s or 300m", id="large-int"),
        pytest.param(2.5, "2.5 has no unit; write e.g. 2.5s or 2.5m", id="float"),
        pytest.param(0, "0 has no unit; write e.g. 0s or 0m", id="zero"),
        pytest.param(-1, "-1 has no unit; write e.g. -1s or -1m", id="negative"),
        # A huge int is refused before float() could raise OverflowError, which pydantic
        # would not turn into a located problem.
        pytest.param(10**400, f"{10**400} has no unit", id="huge-int"),
        pytest.param("45", "'45' has no unit; write e.g. 45s or 45m", id="text"),
        pytest.param(" 45 ", "'45' has no unit; write e.g. 45s or 45m", id="text-with-spaces"),
    ],
)
def test_a_duration_without_a_unit_is_refused_with_the_fix(value: object, message: str) -> None:
    # `interval: 5` used to be five seconds, where the writer most likely meant minutes.
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("90s", 90.0, id="90s"),
        pytest.param("5m", 300.0, id="5m"),
        pytest.param("1h", 3600.0, id="1h"),
        pytest.param("0.5s", 0.5, id="half-a-second"),
    ],
)
def test_poll_interval_in_monitor_yaml_accepts_durations(
    make_config: MakeConfig, text: str, seconds: float
) -> None:
    config = load_config(make_config(monitor=f"poll:\n  interval: {text}\n"))

    assert config.settings.poll.interval == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("soon", "interval: 'soon' is not a duration such as 90s, 5m, 1h", id="word"),
        pytest.param("0s", "interval: a duration must be positive", id="zero"),
        pytest.param("5", "interval: 5 has no unit; write e.g. 5s or 5m", id="no-unit"),
        pytest.param(
            '"300"', "interval: '300' has no unit; write e.g. 300s or 300m", id="quoted-no-unit"
        ),
        pytest.param("true", "interval: a duration is text such as 90s, 5m, 1h", id="bool"),
        pytest.param(".inf", "interval: a duration must be finite (got inf)", id="inf"),
        pytest.param(".nan", "interval: a duration must be finite (got nan)", id="nan"),
        pytest.param("31d", "interval: '31d' is longer than 30 days", id="31-days"),
        pytest.param(
            "1e10",
            "interval: 10000000000.0 has no unit; write e.g. 10000000000.0s or 10000000000.0m",
            id="exponent",
        ),
    ],
)
def test_a_bad_poll_interval_is_a_located_problem(
    make_config: MakeConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(monitor=f"poll:\n  interval: {text}\n")

    with pytest.raises(ConfigError) as excinfo:
        load_config(directory)

    assert excinfo.value.problems == [Problem("config/monitor.yaml", 2, 13, message)]


def test_a_feed_with_a_bad_interval_is_left_out_and_reported(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        feeds="""\
        feeds:
          - name: often
            url: https://example.org/often.xml
            interval: often
          - name: fine
            url: https://example.org/fine.xml
        """,
        rules=ONE_RULE,
    )

    config = load_config(directory)

    assert [f.name for f in config.feeds] == ["fine"]
    assert config.problems == [
        Problem(
            "config/feeds.yaml", 4, 15, "interval: 'often' is not a duration such as 90s, 5m, 1h"
        )
    ]


def test_a_feed_with_an_infinite_interval_is_left_out_and_the_others_load(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It used to load, overflow timedelta when its next poll was scheduled, and be
    # fetched again on every tick.
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        feeds="""\
        feeds:
          - name: forever
            url: https://example.org/forever.xml
            interval: .inf
          - name: fine
            url: https://example.org/fine.xml
        """,
        rules=ONE_RULE,
    )

    config = load_config(directory)

    assert [f.name for f in config.feeds] == ["fine"]
    assert config.problems == [
        Problem(
            "config/feeds.yaml",
            4,
            15,
            "interval: a duration must be finite (got inf)",
        )
    ]


def test_a_feeds_own_interval_overrides_poll_interval(make_config: MakeConfig) -> None:
    directory = make_config(
        monitor="poll:\n  interval: 10m\n",
        feeds="""\
        feeds:
          - name: quick
            url: https://example.org/quick.xml
            interval: 90s
          - name: plain
            url: https://example.org/plain.xml
        """,
    )

    intervals = {f.name: f.interval for f in load_config(directory).feeds}

    assert intervals == {"quick": 90.0, "plain": 600.0}


# Feed URLs


def test_feed_urls_and_absolute_paths_are_kept_and_relative_paths_resolved(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    absolute = tmp_path / "elsewhere.xml"
    by_url = tmp_path / "by-url.xml"
    directory = make_config(
        feeds=f"""\
        feeds:
          - name: web
            url: https://example.org/feed.xml
          - name: file-url
            url: {by_url.as_uri()}
          - name: absolute
            url: {absolute}
          - name: relative
            url: local/feed.xml
        """
    )
    (directory / "local").mkdir()
    for path in (absolute, by_url, directory / "local" / "feed.xml"):
        path.write_text("<rss/>")

    config = load_config(directory)

    assert config.problems == []
    assert {f.name: f.url for f in config.feeds} == {
        "web": "https://example.org/feed.xml",
        "file-url": by_url.as_uri(),
        "absolute": str(absolute),
        "relative": str(directory.resolve() / "local" / "feed.xml"),
    }


# The database


def test_without_a_database_setting_the_path_is_left_to_the_cli(make_config: MakeConfig) -> None:
    assert load_config(make_config()).database_path is None


def test_a_relative_database_is_resolved_against_the_config_directory(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = make_config(monitor="database: data/monitor.db\nchannels: {}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # as under systemd, where the working directory is /

    config = load_config(directory)

    assert config.settings.database == "data/monitor.db"  # as written
    assert config.database_path == directory.resolve() / "data" / "monitor.db"


def test_a_relative_database_is_absolute_even_when_the_config_directory_is_relative(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_config(monitor="database: monitor.db\nchannels: {}\n")
    monkeypatch.chdir(tmp_path)

    config = load_config("config")

    assert config.database_path == tmp_path.resolve() / "config" / "monitor.db"
    assert config.database_path.is_absolute()


def test_an_absolute_database_is_kept(make_config: MakeConfig, tmp_path: Path) -> None:
    absolute = tmp_path / "var" / "monitor.db"

    config = load_config(make_config(monitor=f"database: {absolute}\nchannels: {{}}\n"))

    assert config.database_path == absolute


def test_a_database_under_home_is_expanded(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    config = load_config(make_config(monitor="database: ~/monitor.db\nchannels: {}\n"))

    assert config.database_path == tmp_path / "home" / "monitor.db"


def test_an_in_memory_database_keeps_sqlites_name(make_config: MakeConfig) -> None:
    config = load_config(make_config(monitor='database: ":memory:"\nchannels: {}\n'))

    assert config.database_path == Path(":memory:")


def test_an_empty_database_is_a_located_problem(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Resolved against the config directory, "" would name the directory itself.
    monkeypatch.chdir(tmp_path)
    directory = make_config(monitor='database: ""\nchannels: {}\n')

    with pytest.raises(ConfigError) as excinfo:
        load_config(directory)

    assert excinfo.value.problems == [
        Problem("config/monitor.yaml", 1, 11, "database: String should have at least 1 character")
    ]


# Enabled and disabled


def test_disabled_feeds_are_left_out_without_a_problem(make_config: MakeConfig) -> None:
    directory = make_config(
        feeds="""\
        feeds:
          - name: kept
            url: https://example.org/on.xml
          - name: dropped
            url: https://example.org/off.xml
            enabled: false
        """
    )

    config = load_config(directory)

    assert [f.name for f in config.feeds] == ["kept"]
    assert config.problems == []


def test_disabled_rules_are_left_out_without_a_problem(make_config: MakeConfig) -> None:
    directory = make_config(
        rules={
            "r.yaml": """\
            rules:
              - id: kept
                query: Libya
                channels: [console]
              - id: dropped
                query: Tripoli
                channels: [console]
                enabled: false
            """
        }
    )

    config = load_config(directory)

    assert [r.id for r in config.rules] == ["kept"]
    assert config.problems == []


def test_a_rule_without_a_name_is_named_by_its_id(make_config: MakeConfig) -> None:
    rule = load_config(make_config(rules=ONE_RULE)).rules[0]

    assert rule.name == "r1"
    assert rule.channels == ("console",)


# What a broken feed or rule costs


def test_a_broken_feed_costs_only_itself(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        feeds="""\
        feeds:
          - name: first
            url: https://example.org/first.xml
          - name: no-url
          - name: bad name!
            url: https://example.org/bad.xml
          - just a string
          - name: last
            url: https://example.org/last.xml
        """,
        rules=ONE_RULE,
    )

    config = load_config(directory)

    assert [f.name for f in config.feeds] == ["first", "last"]
    assert [r.id for r in config.rules] == ["r1"]
    assert config.problems == [
        Problem("config/feeds.yaml", 4, 5, "missing required field 'url'"),
        Problem(
            "config/feeds.yaml",
            5,
            11,
            "name: use letters, digits, '.', '_' and '-' only (got 'bad name!')",
        ),
        Problem("config/feeds.yaml", 7, 5, "each entry of 'feeds' must be a mapping"),
    ]


def test_a_duplicate_feed_name_keeps_the_first_feed(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        feeds="""\
        feeds:
          - name: a
            url: https://example.org/first.xml
          - name: a
            url: https://example.org/second.xml
        """
    )

    config = load_config(directory)

    assert [f.url for f in config.feeds] == ["https://example.org/first.xml"]
    assert config.problems == [Problem("config/feeds.yaml", 4, 11, "duplicate feed name 'a'")]


def test_a_broken_rule_costs_only_itself(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        feeds="""\
        feeds:
          - name: a
            url: https://example.org/a.xml
        """,
        rules={
            "r.yaml": """\
            rules:
              - id: good
                query: Libya
                channels: [console]
              - id: bad-query
                query: Libya AND (Tripoli
                channels: [console]
              - id: no-channels
                query: Sirte
              - id: also-good
                query: Misrata~
                channels: [console]
            """
        },
    )

    config = load_config(directory)

    assert [r.id for r in config.rules] == ["good", "also-good"]
    assert [f.name for f in config.feeds] == ["a"]
    assert config.problems == [
        Problem("config/rules/r.yaml", 6, 22, "query: '(' is never closed"),
        Problem("config/rules/r.yaml", 8, 5, "missing required field 'channels'"),
    ]


def test_a_rule_file_that_is_not_yaml_costs_only_that_file(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        rules={
            "a.yaml": """\
            rules:
              - id: broken
                query: Libya
               channels: [console]
            """,
            "b.yaml": """\
            rules:
              - id: fine
                query: Libya
                channels: [console]
            """,
        }
    )

    config = load_config(directory)

    assert [r.id for r in config.rules] == ["fine"]
    assert [(p.path, p.line) for p in config.problems] == [("config/rules/a.yaml", 4)]
    assert config.problems[0].message.startswith("YAML: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # ruamel recurses once per level; this used to raise RecursionError out of load_config.
        pytest.param(
            "rules: " + "[" * 500 + "]" * 500 + "\n",
            "YAML: nested too deeply to read",
            id="deeply-nested",
        ),
        # ruamel's int() refuses more than 4,300 digits with a ValueError, not a YAMLError.
        pytest.param("rules: 1" + "0" * 5000 + "\n", "YAML: Exceeds the limit", id="huge-int"),
    ],
)
def test_a_rule_file_ruamel_cannot_read_costs_only_that_file(
    make_config: MakeConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(rules={"a.yaml": text, "b.yaml": ONE_RULE["r.yaml"]})

    config = load_config(directory)

    assert [r.id for r in config.rules] == ["r1"]
    [problem] = config.problems
    assert (problem.path, problem.line, problem.col) == ("config/rules/a.yaml", 1, 1)
    assert problem.message.startswith(message)


def test_a_config_without_rule_files_says_so(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    config = load_config(make_config(rules={}))

    assert config.rules == []
    assert config.problems == [Problem("config/rules", 1, 1, "no rule files (rules/*.yaml)")]


def test_problem_paths_are_absolute_when_the_config_is_outside_the_working_directory(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = make_config(rules={"r.yaml": "rules:\n  - id: r1\n    query: Libya\n"})
    monkeypatch.chdir(ROOT)

    config = load_config(directory)

    assert config.problems == [
        Problem(str(directory / "rules" / "r.yaml"), 2, 5, "missing required field 'channels'")
    ]


# A broken monitor.yaml stops everything


def test_a_broken_monitor_yaml_raises_config_error_with_every_located_problem(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        monitor="""\
        poll:
          workers: 0
        channel: {}
        """
    )

    with pytest.raises(ConfigError) as excinfo:
        load_config(directory)

    assert excinfo.value.problems == [
        Problem(
            "config/monitor.yaml", 2, 12, "workers: Input should be greater than or equal to 1"
        ),
        Problem("config/monitor.yaml", 3, 1, "unknown key 'channel'"),
    ]
    assert str(excinfo.value) == "\n".join(str(p) for p in excinfo.value.problems)


def test_a_monitor_yaml_that_is_not_yaml_raises_config_error_at_its_line(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(monitor="poll:\n  interval: 5m\n   tick: 5s\n")

    with pytest.raises(ConfigError) as excinfo:
        load_config(directory)

    [problem] = excinfo.value.problems
    assert (problem.path, problem.line) == ("config/monitor.yaml", 3)
    assert problem.message.startswith("YAML: ")


def test_a_channel_named_console_is_refused(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(monitor="channels:\n  console:\n    url: json://localhost\n")

    with pytest.raises(ConfigError) as excinfo:
        load_config(directory)

    assert excinfo.value.problems == [
        Problem("config/monitor.yaml", 2, 3, "'console' is built in; pick another name")
    ]


def test_a_missing_config_directory_raises_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(ConfigError) as excinfo:
        load_config(missing)

    assert excinfo.value.problems == [Problem(str(missing), 1, 1, "config directory not found")]


def test_a_missing_monitor_yaml_means_the_defaults(make_config: MakeConfig) -> None:
    config = load_config(make_config(monitor=None))

    assert config.problems == []
    assert config.settings.poll.interval == 300.0
    assert config.settings.delivery.max_attempts == 10
    assert config.channels == {}


# A new feed's backlog: the settings (the pipeline applies them)


def test_the_bundled_seed_feed_alerts_its_backlog_and_the_others_skip_it() -> None:
    config = load_config(BUNDLED)

    assert config.settings.poll.max_age == 86400.0
    backlog = {f.name: f.backlog for f in config.feeds}
    assert backlog.pop("seed") is BacklogPolicy.ALERT
    assert set(backlog.values()) == {BacklogPolicy.SKIP}


def test_max_age_defaults_to_one_day_and_takes_a_duration(make_config: MakeConfig) -> None:
    assert load_config(make_config()).settings.poll.max_age == 86400.0
    config = load_config(make_config(monitor="poll:\n  max_age: 6h\n", name="six-hours"))
    assert config.settings.poll.max_age == 6 * 3600.0


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        pytest.param("", BacklogPolicy.SKIP, id="default"),
        pytest.param("backlog: skip", BacklogPolicy.SKIP, id="skip"),
        pytest.param("backlog: alert", BacklogPolicy.ALERT, id="alert"),
    ],
)
def test_a_feeds_backlog_policy_is_carried_on_the_feed(
    make_config: MakeConfig, text: str, policy: BacklogPolicy
) -> None:
    directory = make_config(
        feeds=f"feeds:\n  - name: a\n    url: https://example.org/a.xml\n    {text}\n"
    )

    [feed] = load_config(directory).feeds

    assert feed.backlog is policy


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("always", "backlog: Input should be 'skip' or 'alert'", id="word"),
        pytest.param("true", "backlog: Input should be 'skip' or 'alert'", id="bool"),
    ],
)
def test_a_bad_backlog_policy_is_a_located_error(
    make_config: MakeConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        feeds=f"feeds:\n  - name: a\n    url: https://example.org/a.xml\n    backlog: {text}\n"
    )

    config = load_config(directory)

    assert config.feeds == []
    assert config.errors == [Problem("config/feeds.yaml", 4, 14, message)]


# Feed URLs that fetch could not read


def test_a_feed_whose_file_is_missing_is_a_located_error_and_left_out(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(
        feeds="""\
        feeds:
          - name: missing
            url: feeds/missing.xml
          - name: folder
            url: feeds
          - name: missing-by-url
            url: file:///nonexistent-monitor-test/feed.xml
          - name: switched-off
            url: feeds/also-missing.xml
            enabled: false
          - name: present
            url: feeds/present.xml
        """
    )
    (directory / "feeds").mkdir()
    (directory / "feeds" / "present.xml").write_text("<rss/>")

    config = load_config(directory)

    # A disabled feed is never fetched, so its missing file stops nothing.
    assert [f.name for f in config.feeds] == ["present"]
    folder = directory.resolve() / "feeds"
    assert config.problems == [
        Problem("config/feeds.yaml", 3, 10, f"url: no such file {folder / 'missing.xml'}"),
        Problem("config/feeds.yaml", 5, 10, f"url: {folder} is a directory, not a feed file"),
        Problem("config/feeds.yaml", 7, 10, "url: no such file /nonexistent-monitor-test/feed.xml"),
    ]
    assert all(p.is_error for p in config.problems)


def test_a_host_name_that_is_also_an_existing_file_is_read_as_the_file(
    make_config: MakeConfig,
) -> None:
    # `www.example.org` could name a file; when it does, that file is the feed.
    directory = make_config(feeds="feeds:\n  - name: a\n    url: www.example.org\n")
    (directory / "www.example.org").write_text("<rss/>")

    config = load_config(directory)

    assert config.problems == []
    assert [f.url for f in config.feeds] == [str(directory.resolve() / "www.example.org")]


@pytest.mark.parametrize(
    ("url", "names_the_web_address"),
    [
        pytest.param("www.bbc.co.uk/feed.xml", True, id="www-and-path"),
        pytest.param("feeds.bbci.co.uk/news/rss.xml", True, id="host-and-path"),
        pytest.param("example.org/rss", True, id="short-host-and-path"),
        pytest.param("www.example.org", True, id="www-alone"),
        pytest.param("feed.xml", False, id="file-name"),
        pytest.param("data/feed.xml", False, id="relative-path"),
    ],
)
def test_a_missing_path_that_looks_like_a_host_suggests_https(
    make_config: MakeConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    names_the_web_address: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = make_config(feeds=f"feeds:\n  - name: a\n    url: {url}\n")

    [problem] = load_config(directory).problems

    assert (problem.line, problem.col, problem.is_error) == (3, 10, True)
    hint = f"for a web address write https://{url}"
    assert problem.message.endswith(hint) == names_the_web_address
