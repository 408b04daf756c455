"""One event, one alert: real reports of the Tripoli clashes of August 2023 from three
outlets (corpus/headlines-2023) are one cluster and one alert per rule and channel; the
other outlets show as "also reported by"; a different Libyan story the same day is another
event; and the promise survives a restart (each CLI call is a new process's work)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

from tests.conftest import MakeConfig, RunCli

# (feed, published, title, summary), as the outlets published them.
CLASHES = [
    (
        "aljazeera",
        "Mon, 14 Aug 2023 20:45:27 GMT",
        "Worst fighting in months as clashes hit Libyan capital Tripoli",
        "Clashes erupt amid sounds of gunfire in Libya's Tripoli, residents say, after armed "
        "faction leader reportedly detained.",
    ),
    (
        "ft",
        "Tue, 15 Aug 2023 16:22:16 GMT",
        "Clashes erupt between rival militias in Libya\N{RIGHT SINGLE QUOTATION MARK}s capital",
        "Violence shatters months of calm and closes Tripoli\N{RIGHT SINGLE QUOTATION MARK}s "
        "only functioning airport",
    ),
    (
        "lemonde",
        "Tue, 15 Aug 2023 17:45:34 GMT",
        "Clashes in Libyan capital kill two, force airport closure",
        "Clashes between the two leading armed groups in Tripoli have led to the closure of "
        "the capital's only civilian airport, officials said on Tuesday.",
    ),
]
HANNIBAL = (
    "aljazeera",
    "Mon, 14 Aug 2023 19:46:02 GMT",
    "Libya asks Lebanon to release Gaddafi son on hunger strike: Officials",
    "The health of Hannibal Gaddafi has been deteriorating since he went on hunger strike.",
)
TITLES = {"aljazeera": "Al Jazeera", "ft": "Financial Times", "lemonde": "Le Monde"}


def write_feeds(tmp_path: Path, items: list[tuple[str, str, str, str]]) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.xml" for name in TITLES}
    for name, path in files.items():
        entries = "".join(
            f"<item><title>{escape(t)}</title><link>https://{name}.example/{i}</link>"
            f"<guid>{name}-{i}</guid><pubDate>{p}</pubDate>"
            f"<description>{escape(s)}</description></item>"
            for i, (feed, p, t, s) in enumerate(items)
            if feed == name
        )
        path.write_text(
            f'<rss version="2.0"><channel><title>{name}</title>{entries}</channel></rss>'
        )
    return files


def feeds_yaml(files: dict[str, Path]) -> str:
    """feeds.yaml for the outlets' files, their backlogs alerting (the stories are from 2023)."""
    return "feeds:\n" + "".join(
        f"  - {{name: {n}, title: {TITLES[n]}, url: '{p}', backlog: alert}}\n"
        for n, p in files.items()
    )


def rows(run_cli: RunCli, *args: str) -> list[dict[str, object]]:
    out = run_cli(*args, "--json")
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_one_event_from_three_outlets_is_one_alert_and_the_others_are_listed(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    files = write_feeds(tmp_path, [HANNIBAL, *CLASHES[:2]])
    config = make_config(
        feeds=feeds_yaml(files),
        rules={
            "r.yaml": "rules:\n"
            "  - {id: libya, query: 'Libya OR Libyan OR Tripoli', channels: [console]}\n"
        },
    )
    args = ("--config", str(config), "--db", str(tmp_path / "m.db"))
    first = run_cli("poll", "--once", *args)
    assert first.exit_code == 0, first.output
    alerts = rows(run_cli, "alerts", *args)
    # Two events, two alerts: Hannibal Gaddafi, and the clashes (from whichever of the two
    # outlets was read first: feeds are fetched at once).
    clash_titles = {c[2] for c in CLASHES}
    assert len(alerts) == 2 and {a["title"] for a in alerts} - clash_titles == {HANNIBAL[2]}
    stories = {s["title"]: s["cluster"] for s in rows(run_cli, "stories", *args)}
    assert stories[CLASHES[0][2]] == stories[CLASHES[1][2]] != stories[HANNIBAL[2]]
    # Le Monde reports it later, in another cycle of another process: still no new alert.
    write_feeds(tmp_path, [HANNIBAL, *CLASHES])
    second = run_cli("poll", "--once", *args)
    assert second.exit_code == 0, second.output
    alerts = rows(run_cli, "alerts", *args)
    assert len(alerts) == 2
    [clashes] = [a for a in alerts if a["title"] in clash_titles]
    others = {"Al Jazeera", "Financial Times", "Le Monde"} - {clashes["outlet"]}
    assert set(clashes["also"]) == others and clashes["also"][-1] == "Le Monde"
    assert "also reported by: " in run_cli("alerts", *args).stdout
    clusters = {c["id"]: c for c in rows(run_cli, "clusters", *args)}
    assert clusters[clashes["cluster"]]["size"] == 3
    assert set(clusters[clashes["cluster"]]["outlets"]) == {
        "Al Jazeera",
        "Financial Times",
        "Le Monde",
    }
    assert sorted(c["size"] for c in clusters.values()) == [1, 3]
    members = rows(run_cli, "stories", "--cluster", str(clashes["cluster"]), *args)
    assert sorted(m["feed"] for m in members) == ["aljazeera", "ft", "lemonde"]


def test_a_second_rule_on_the_same_event_still_alerts_once(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    files = write_feeds(tmp_path, CLASHES)
    config = make_config(
        feeds=feeds_yaml(files),
        rules={
            "r.yaml": "rules:\n"
            "  - {id: libya, query: 'Libya OR Libyan', channels: [console]}\n"
            "  - {id: airport, query: airport, channels: [console]}\n"
        },
    )
    args = ("--config", str(config), "--db", str(tmp_path / "m.db"))
    assert run_cli("poll", "--once", *args).exit_code == 0
    alerts = rows(run_cli, "alerts", *args)
    # Al Jazeera's first report names no airport; the FT's and Le Monde's do. Whichever is
    # read first, each rule alerts once for the event.
    told = [rule for a in alerts for rule in a["rules"]]
    assert sorted(told) == ["airport", "libya"]
    assert len({a["cluster"] for a in alerts}) == 1


def test_clustering_can_be_turned_off(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    files = write_feeds(tmp_path, CLASHES)
    config = make_config(
        monitor="clusters:\n  enabled: false\n",
        feeds=feeds_yaml(files),
        rules={
            "r.yaml": "rules:\n  - {id: libya, query: 'Libya OR Libyan', channels: [console]}\n"
        },
    )
    args = ("--config", str(config), "--db", str(tmp_path / "m.db"))
    assert run_cli("poll", "--once", *args).exit_code == 0
    assert len(rows(run_cli, "alerts", *args)) == 3


def test_an_event_reaching_escalate_at_outlets_sends_one_follow_up(
    make_config: MakeConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    files = write_feeds(tmp_path, CLASHES[:2])
    config = make_config(
        feeds=feeds_yaml(files),
        rules={
            "r.yaml": "rules:\n  - {id: libya, name: Libya, query: 'Libya OR Libyan', "
            "channels: [console], escalate_at: 3}\n"
        },
    )
    args = ("--config", str(config), "--db", str(tmp_path / "m.db"))
    assert run_cli("poll", "--once", *args).exit_code == 0
    assert len(rows(run_cli, "alerts", *args)) == 1  # two outlets: one alert
    write_feeds(tmp_path, CLASHES)  # Le Monde makes three
    third = run_cli("poll", "--once", *args)
    assert third.exit_code == 0, third.output
    assert "Follow-up: now reported by 3 outlets" in third.stdout
    alerts = rows(run_cli, "alerts", *args)
    assert len(alerts) == 2 and alerts[0]["title"] == CLASHES[2][2]
    assert len({a["cluster"] for a in alerts}) == 1
    # A fourth report of the event, from an outlet already counted: nothing more.
    write_feeds(
        tmp_path,
        [
            *CLASHES,
            (
                *CLASHES[2][:2],
                "Libya: Tripoli airport shut as rival militias clash",
                "Clashes between armed groups in Tripoli closed the capital airport.",
            ),
        ],
    )
    assert run_cli("poll", "--once", *args).exit_code == 0
    assert len(rows(run_cli, "alerts", *args)) == 2
