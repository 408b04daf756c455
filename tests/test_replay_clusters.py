"""Replayed news, one alert per event and rule: four outlets' real snapshots from
corpus/replay/ (April 2020, the first weeks of the pandemic, when every outlet ran the
same stories) go through the poll and delivery jobs in time order, with clustering on.
No two alerts may share an event, a rule and a channel, and the outlets that carried an
event later are listed on its alert."""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from monitor.dedupe.cluster import ClusterIndex
from monitor.delivery.channels import Notifier, build_channels
from monitor.feeds.fetch import Fetcher
from monitor.models import BacklogPolicy, Feed
from monitor.pipeline import Pipeline
from monitor.rules import parse_query
from monitor.rules.matcher import Matcher, Rule
from monitor.store.sqlite import SQLiteStore

OUTLETS = ("bbc", "aljazeeraenglish", "nytimes", "cnn")
SNAPSHOTS = 30  # per outlet, from the first


def snapshots(corpus: Path) -> list[tuple[datetime, str, bytes]]:
    found = []
    for outlet in OUTLETS:
        with tarfile.open(corpus / "replay" / f"{outlet}.tar.xz") as archive:
            members = sorted((m for m in archive.getmembers() if m.isfile()), key=lambda m: m.name)
            for member in members[:SNAPSHOTS]:
                stamp = Path(member.name).stem  # 2020-04-21T00-43-01Z
                when = datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)
                data = archive.extractfile(member)
                assert data is not None
                found.append((when, outlet, data.read()))
    return sorted(found, key=lambda s: (s[0], s[1]))


def test_replayed_outlets_get_one_alert_per_event_and_rule(corpus: Path, tmp_path: Path) -> None:
    clock_now = [datetime(2020, 4, 21, tzinfo=UTC)]
    feeds = {
        o: Feed(o, str(tmp_path / f"{o}.xml"), o.upper(), 60, backlog=BacklogPolicy.ALERT)
        for o in OUTLETS
    }
    store = SQLiteStore(tmp_path / "m.db")
    try:
        store.sync_feeds(list(feeds.values()))
        rules = [
            Rule(
                "virus",
                "Coronavirus",
                parse_query("coronavirus OR covid* OR pandemic").node,
                ("desk",),
            ),
            Rule("trump", "Trump", parse_query("Trump").node, ("desk",)),
        ]
        pipeline = Pipeline(
            store=store,
            fetcher=Fetcher(),
            matcher=Matcher(rules),
            notifier=Notifier(build_channels({}, {}), console=io.StringIO()),
            clock=lambda: clock_now[0],
            clusters=ClusterIndex(),
            max_age=10 * 86400.0,
        )
        for when, outlet, data in snapshots(corpus):
            clock_now[0] = when
            Path(feeds[outlet].url).write_bytes(data)
            pipeline.poll([feeds[outlet]])
        pipeline.deliver()
        alerts = store.recent_alerts(None)
        told = Counter((a.cluster_id, a.channel, m.rule_id) for a in alerts for m in a.matches)
        assert alerts and told.most_common(1)[0][1] == 1  # once per event, rule and channel
        matched = [s for s in store.stories(100_000) if s.alerts]
        matcher = Matcher(rules)
        stories_matching = sum(1 for s in store.stories(100_000) if matcher.match(s.story))
        # Events reported by several outlets: fewer alerts than matching stories, and the
        # other outlets listed on the alert.
        assert len(alerts) < stories_matching
        assert any(len(a.also) >= 2 for a in alerts)
        print(
            f"replay: {len(store.stories(100_000))} stories, {stories_matching} matching, "
            f"{len(matched)} alerted, {len(alerts)} alerts, "
            f"{sum(1 for a in alerts if a.also)} with other outlets"
        )
    finally:
        store.close()
