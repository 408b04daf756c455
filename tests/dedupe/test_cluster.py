"""Clustering as pure code: identity against clusters, one event from several outlets, two
events in one city, follow-ups, the window, out-of-order batches, rebuilding from rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.dedupe import KeyKind, identity_keys
from monitor.dedupe.cluster import ClusterConfig, ClusterIndex, ClusterItem, Reason
from monitor.dedupe.signature import signature, stem
from monitor.feeds.parse import parse_feed
from tests.dedupe import pairs

T0 = datetime(2023, 8, 15, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def item(key: str, outlet: str, title: str, summary: str = "", at: float = 0.0) -> ClusterItem:
    """A story published `at` hours after T0 and seen at once."""
    time = T0 + at * HOUR
    return ClusterItem(key, outlet, title, summary, time, time)


CLASHES = (
    "Clashes erupt between rival militias in Libya's capital Tripoli",
    "Fighting between the 444 Brigade and the Special Deterrence Force closed Mitiga airport.",
)
CLASHES_2 = (
    "Tripoli clashes: rival Libyan militias fight after commander's arrest",
    "Heavy fighting between the Special Deterrence Force and the 444 Brigade in Tripoli.",
)
CLASHES_3 = (
    "Deadly militia clashes in Libya's Tripoli shut Mitiga airport",
    "The 444 Brigade and the Special Deterrence Force fought overnight; flights were diverted.",
)
MARATHON = (
    "Tripoli hosts first international marathon in a decade",
    "Thousands of runners crossed Martyrs' Square as the city celebrated the race.",
)


def test_one_event_from_three_outlets_is_one_cluster() -> None:
    index = ClusterIndex()
    decisions = index.place_batch(
        [
            item("a", "Al Jazeera", *CLASHES, at=0),
            item("b", "BBC", *CLASHES_2, at=2),
            item("c", "Le Monde", *CLASHES_3, at=5),
        ]
    )
    assert [d.is_new for d in decisions] == [True, False, False]
    assert len({d.cluster_id for d in decisions}) == 1
    assert [d.reason for d in decisions[1:]] == [Reason.SAME_EVENT] * 2
    assert index.outlets(decisions[0].cluster_id) == ("Al Jazeera", "BBC", "Le Monde")


def test_two_events_in_one_city_on_one_day_are_two_clusters() -> None:
    index = ClusterIndex()
    clashes = index.place(item("a", "Al Jazeera", *CLASHES, at=0))
    marathon = index.place(item("b", "BBC", *MARATHON, at=3))
    again = index.place(item("c", "Le Monde", *CLASHES_2, at=4))
    assert marathon.is_new and marathon.cluster_id != clashes.cluster_id
    assert again.cluster_id == clashes.cluster_id


def test_three_outlets_on_the_tripoli_clashes_from_the_corpus_are_one_cluster() -> None:
    items, _ = pairs.load()
    # Al Jazeera, Financial Times and Le Monde on 15 August 2023 (headlines-2023 lines).
    chosen = [items[k] for k in ("45250", "45340", "45424")]
    decisions = ClusterIndex().place_batch(chosen)
    assert len({d.cluster_id for d in decisions}) == 1


def test_a_story_placed_again_keeps_its_cluster_whatever_its_new_title() -> None:
    # The BBC's re-title of 1 June 2020: one identity, so one story in one cluster.
    index = ClusterIndex()
    summary = (
        "Gen Haftar's forces have been beaten back from Tripoli "
        "but that does not mean peace is at hand."
    )
    first = index.place(
        item(
            "bbc-52846879",
            "BBC",
            "Russia and Turkey risk turning Libya into another Syria",
            summary,
        )
    )
    again = index.place(
        item(
            "bbc-52846879",
            "BBC",
            "Libya conflict: Russia and Turkey risk Syria repeat",
            summary,
            at=23,
        )
    )
    assert (again.cluster_id, again.reason, again.is_new) == (
        first.cluster_id,
        Reason.SAME_STORY,
        False,
    )
    # Had identity missed it (another key), the words alone would still put it there.
    other = index.place(
        item(
            "elsewhere",
            "BBC",
            "Libya conflict: Russia and Turkey risk Syria repeat",
            summary,
            at=23,
        )
    )
    assert other.cluster_id == first.cluster_id
    assert other.reason in (Reason.NEAR_DUPLICATE, Reason.SAME_EVENT)


def test_the_retitled_bbc_story_has_one_identity(corpus: Path) -> None:
    import tarfile

    names = ("bbc/2020-06-01T21-02-33Z.xml", "bbc/2020-06-01T22-28-31Z.xml")
    with tarfile.open(corpus / "replay" / "bbc.tar.xz") as archive:
        docs = [archive.extractfile(name).read() for name in names]  # type: ignore[union-attr]
    found = [
        next(s for s in parse_feed(doc, feed="bbc").stories if s.link.endswith("52846879"))
        for doc in docs
    ]
    assert [s.title for s in found] == [
        "Russia and Turkey risk turning Libya into another Syria",
        "Libya conflict: Russia and Turkey risk Syria repeat",
    ]
    assert identity_keys(found[0]) == identity_keys(found[1])


def test_exact_duplicates_in_one_feed_share_their_keys(corpus: Path) -> None:
    # India Today's feed has no guid and repeats 13 links (one three times): 131 items.
    doc = (corpus / "feeds" / "indiatoday__home_2026-08-13.xml").read_bytes()
    stories = parse_feed(doc, feed="indiatoday").stories
    links = [next(k.value for k in identity_keys(s) if k.kind is KeyKind.LINK) for s in stories]
    assert (len(stories), len(set(links))) == (131, 117)
    seen: dict[str, tuple[object, ...]] = {}
    for story, link in zip(stories, links, strict=True):
        keys = identity_keys(story)
        assert seen.setdefault(link, keys) == keys  # a repeat has every key of the first


@pytest.mark.parametrize(
    ("hours_later", "joins"),
    [(24, True), (47, True), (49, False), (72, False)],
    ids=["next-day", "just-inside-the-window", "just-outside", "three-days"],
)
def test_a_follow_up_joins_while_the_cluster_is_in_the_window(
    hours_later: float, joins: bool
) -> None:
    # Decided: the window runs from a cluster's newest story. A follow-up two days after
    # the last report is a new cluster; coverage that goes on keeps one cluster alive.
    index = ClusterIndex()
    first = index.place(item("a", "Al Jazeera", *CLASHES, at=0))
    later = index.place(item("b", "BBC", *CLASHES_2, at=hours_later))
    assert (later.cluster_id == first.cluster_id) is joins
    assert later.is_new is not joins


def test_continuing_coverage_keeps_a_cluster_past_one_window() -> None:
    index = ClusterIndex()
    first = index.place(item("a", "Al Jazeera", *CLASHES, at=0))
    index.place(item("b", "BBC", *CLASHES_2, at=40))
    late = index.place(item("c", "Le Monde", *CLASHES_3, at=80))
    assert late.cluster_id == first.cluster_id


def test_stories_leave_the_index_a_window_after_the_clock() -> None:
    index = ClusterIndex(ClusterConfig(window=timedelta(hours=48)))
    index.place(item("a", "Al Jazeera", *CLASHES, at=0))
    index.place(item("b", "BBC", *MARATHON, at=1))
    assert (index.live_stories, index.live_clusters) == (2, 2)
    index.place(item("c", "Sky", "Markets close higher", "Stocks rose.", at=49.5))
    assert (index.live_stories, index.live_clusters) == (1, 1)
    assert index.cluster_of("a") is None and index.cluster_of("c") is not None
    left = signature("Markets close higher", "Stocks rose.").term_set
    assert {term for term, _ in index._window.all_postings()} <= left
    assert set(index._window.centroid(index.cluster_of("c") or 0).sums) == left


def test_a_story_older_than_the_window_before_the_clock_is_placed_alone() -> None:
    index = ClusterIndex()
    index.place(item("a", "Al Jazeera", *CLASHES, at=100))
    old = index.place(item("b", "BBC", *CLASHES_2, at=10))
    assert (old.is_new, old.reason) == (True, Reason.OUT_OF_WINDOW)
    assert index.cluster_of("b") is None  # never indexed


def test_published_later_than_first_seen_counts_as_first_seen() -> None:
    seen = T0
    wrong = ClusterItem("a", "x", "t", "", seen, seen + 5 * HOUR)
    assert wrong.time == seen
    assert ClusterItem("b", "x", "t", "", seen, None).time == seen
    assert ClusterItem("c", "x", "t", "", seen, seen - HOUR).time == seen - HOUR


def test_a_batch_clusters_as_if_its_stories_had_arrived_in_time_order() -> None:
    items, _ = pairs.load()
    chosen = pairs.in_time_order(items.values())[:120]
    in_order = ClusterIndex().place_batch(chosen)
    shuffled = sorted(chosen, key=lambda i: (i.outlet, i.key))  # one feed's backlog after another's
    scrambled = ClusterIndex().place_batch(shuffled)
    by_key = {d.key: d for d in scrambled}
    assert [d.key for d in scrambled] == [i.key for i in shuffled]  # the order of the batch
    assert [by_key[d.key] for d in in_order] == in_order


def test_placing_is_deterministic() -> None:
    items, _ = pairs.load()
    chosen = pairs.in_time_order(items.values())
    assert ClusterIndex().place_batch(chosen) == ClusterIndex().place_batch(chosen)


def test_an_index_rebuilt_from_its_rows_takes_the_same_decisions() -> None:
    items, _ = pairs.load()
    ordered = pairs.in_time_order(items.values())
    cut = len(ordered) // 2
    original = ClusterIndex()
    original.place_batch(ordered[:cut])
    rows = original.members()  # (item, cluster id): what a store would keep
    assert all(isinstance(cluster_id, int) for _, cluster_id in rows)
    rebuilt = ClusterIndex.rebuild(rows, next_id=original.next_id)
    assert (rebuilt.clock, rebuilt.live_stories, rebuilt.live_clusters) == (
        original.clock,
        original.live_stories,
        original.live_clusters,
    )
    assert rebuilt.place_batch(ordered[cut:]) == original.place_batch(ordered[cut:])


def test_rebuilding_from_old_rows_drops_what_would_have_expired() -> None:
    rows = [(item("a", "x", *CLASHES, at=0), 7), (item("b", "y", *MARATHON, at=60), 9)]
    index = ClusterIndex.rebuild(rows)
    assert (index.live_stories, index.next_id) == (1, 10)
    assert index.cluster_of("b") == 9


def test_the_centroids_kept_by_adding_and_subtracting_equal_a_fresh_count() -> None:
    # The exactness the speed rests on (index.py): after days of stories joining, leaving
    # and moving terms' rarity levels, every live cluster's sums and squared norm are,
    # to the last bit, what counting its live members afresh gives.
    items, _ = pairs.load()
    ordered = pairs.in_time_order(items.values())
    index = ClusterIndex()
    index.place_batch(ordered[: len(ordered) * 2 // 3])
    window = index._window
    fresh: dict[int, dict[str, float]] = {}
    for member, cluster_id in index.members():
        sums = fresh.setdefault(cluster_id, {})
        for term, weight in signature(member.title, member.summary).terms:
            sums[term] = sums.get(term, 0.0) + weight
    assert len(fresh) == index.live_clusters > 10
    for cluster_id, sums in fresh.items():
        centroid = window.centroid(cluster_id)
        assert centroid.sums == sums
        norm2 = sum((value * window.term_weight(term)) ** 2 for term, value in sums.items())
        assert centroid.norm2 == norm2


@pytest.mark.parametrize(
    ("first", "second", "together"),
    [
        ("Misrata shelled", "Misrata port closed", False),
        ("Explosion in Misrata", "Misrata port closed after strike", False),
        ("Misrata shelled", "Shelling hits Misrata", True),
    ],
)
def test_two_short_titles_sharing_only_a_place_are_two_events(
    first: str, second: str, together: bool
) -> None:
    index = ClusterIndex()
    a = index.place(item("a", "Al Jazeera", first))
    b = index.place(item("b", "BBC", second, at=1))
    assert (a.cluster_id == b.cluster_id) is together


@pytest.mark.parametrize(
    "words",
    [
        ("earthquakes", "earthquake"),
        ("strikes", "striking", "strike"),
        ("closed", "closing", "close"),
        ("countries", "country"),
        ("Libyan", "Libya"),
        ("Moroccan", "Morocco"),
        ("Israeli", "Israel"),
        ("marches", "march"),
    ],
)
def test_the_forms_of_a_word_headlines_use_meet_in_one_stem(words: tuple[str, ...]) -> None:
    assert len({stem(w.lower()) for w in words}) == 1


def test_stems_keep_different_words_apart() -> None:
    words = ("shell", "shelter", "port", "portrait", "march", "marine", "libya", "liberia")
    assert len({stem(w) for w in words}) == len(words)


def test_a_cluster_whose_every_word_is_common_is_compared_without_dividing_by_zero() -> None:
    # In a window far busier than the population, a common word's rarity level is 0; a
    # story whose words all are has no direction to compare with, and joins nothing by it.
    index = ClusterIndex(ClusterConfig(population=1))
    words = ["tripoli", "clashes", "erupt", "militia"]
    for n in range(6):
        rotated = words[n % 4 :] + words[: n % 4]
        index.place(item(f"s{n}", f"outlet{n}", " ".join(rotated), at=n / 10))
    late = index.place(item("late", "BBC", "Tripoli clashes erupt near marathon route", at=1))
    assert late.reason in (Reason.NEW, Reason.SAME_EVENT, Reason.NEAR_DUPLICATE)
