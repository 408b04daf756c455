"""The bundled rules on real stories from ../shared/corpus/replay/: Libya stories match, and
the false friends do not (Tripoli in Lebanon, the arms embargo on Iran, the Taliban's
cease-fire, a truce in another war). Each story is pinned by snapshot and guid."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.feeds.parse import parse_feed
from monitor.models import Story
from monitor.rules import Matcher
from tests.conftest import ROOT

BREACH, EMBARGO, TOWNS = "libya-ceasefire-breach", "libya-arms-embargo-flights", "libya-named-towns"
AJE = "aljazeeraenglish"

CASES = [
    # Libya stories that must reach the desk
    (AJE, "2020-06-12T20-50-55Z", "yt:video:jQMOvEttrZY", {TOWNS}),
    (AJE, "2020-06-20T13-40-51Z", "yt:video:NKWISJOIDWI", {TOWNS}),
    (AJE, "2020-06-09T18-44-06Z", "yt:video:aPtTbGpvJY4", {TOWNS}),
    # false friends
    (AJE, "2020-04-28T19-37-45Z", "yt:video:iWeZ3xrfRFk", set()),  # Tripoli, Lebanon
    (AJE, "2020-04-29T19-36-57Z", "yt:video:GlGzU4AWl6I", set()),  # Tripoli, Lebanon
    (AJE, "2020-08-15T18-44-23Z", "yt:video:V37gUIwCurk", set()),  # Iran arms embargo
    ("bbc", "2020-05-24T09-49-19Z", "https://www.bbc.co.uk/news/world-asia-52785604", set()),
    (AJE, "2020-10-13T01-20-29Z", "yt:video:uqK60W1MHIw", set()),  # Nagorno-Karabakh truce
]


def story(corpus: Path, outlet: str, snapshot: str, guid: str) -> Story:
    with tarfile.open(corpus / "replay" / f"{outlet}.tar.xz") as archive:
        member = archive.extractfile(f"{outlet}/{snapshot}.xml")
        assert member is not None
        parsed = parse_feed(member.read(), feed=outlet)
    [found] = [s for s in parsed.stories if s.guid == guid]
    return found


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_config(ROOT / "config").rules)


@pytest.mark.parametrize(("outlet", "snapshot", "guid", "expected"), CASES)
def test_the_bundled_rules_on_real_stories(
    corpus: Path, matcher: Matcher, outlet: str, snapshot: str, guid: str, expected: set[str]
) -> None:
    item = story(corpus, outlet, snapshot, guid)
    fired = {m.rule_id for m in matcher.match(item)}
    assert fired == expected, (item.title, item.summary[:200])
