"""Matching alone: real replayed stories against 10 … 10,000 generated watch rules.

    .venv/bin/python bench/rules.py [--sizes 10,100,1000,10000] [--repeat 5] [--snapshots 40]
                                    [--vocab news|stories] [--zipf 0.5] [--warmup 40]

Stories come from the feed histories in ../shared/corpus/replay/ (parsed once, repeats
dropped; 2020-21). Rules are generated to look like real ones: place sets, `name~`,
phrases, wildcards, NEAR and NOT, in six shapes. For each size it prints compiling and
indexing the rules (apart), stories per second through the presearcher and the matcher
(median of --repeat), the candidates a story is evaluated against, peak memory, and a
one-regex-per-rule baseline measured in the same run. Before it is timed, each matcher
matches the other stories of the next --warmup snapshots of the same outlets, untimed: the
presearcher files its rules by what the stories it has matched met (presearch.py), as a
running daemon's has, and it learns from other stories than those it is timed on.

Where the rules' words come from (--vocab):

* `news` (the default): a vocabulary independent of the benched stories, as a desk's rule
  set is. Places are GeoNames cities of the bundled gazetteer, each place set all the
  city's usable names as `gazetteer:` gives them, drawn by population rank. Names (people,
  organisations, acronyms) are the words the 2023 headline archive
  (../shared/corpus/headlines-2023/, another period than the replay) writes capitalised
  and hardly ever in lower case, drawn by how often the archive has them. Topic words are
  the archive's lower-case words of 4+ letters past its 100 commonest, by frequency rank.
  Every draw is Zipf-like: the item of rank r is chosen with weight 1/r**s, s = 0.5 by
  default (--zipf). A few entities and topics (the biggest cities, heads of state,
  "trial", "murder") stand in many rules and hit often (Biden in about 1 rule in 150);
  most rules watch a long tail of names and words that a given day's news rarely or never
  has, and they hit rarely (the ranks themselves follow news frequency, which is Zipfian).
  That is the shape of real rule sets: written by many operators for many clients, one
  rule per watched entity or topic, anchored on named entities and topic words, most of
  them quiet on any one day. s = 1 would make rules as concentrated as news text itself:
  the 100 commonest names would anchor over half the rules, and every story would fire
  two of 10,000 rules, which is no desk's long tail; it is there to try (--zipf 1).
* `stories`: the old, harsher generator, every term drawn from the benched stories
  themselves (topic words are their ranks 100-5,000, names are words they capitalise at
  least twice), so that candidates grow in step with the rule count. Kept to show that
  the engine holds up when every rule's words are in the news it reads.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import lzma
import platform
import random
import re
import statistics
import sys
import tarfile
import time
import tracemalloc
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from itertools import zip_longest
from pathlib import Path

from monitor.feeds.parse import parse_feed
from monitor.models import Story
from monitor.rules import Matcher, Rule, parse_query
from monitor.rules.document import Document
from monitor.rules.nodes import Phrase, Term, positive_terms
from monitor.rules.places import PlaceNames, default_gazetteer, resolve_place
from monitor.text import fold

ROOT = Path(__file__).resolve().parent.parent
REPLAY = ROOT.parent / "shared" / "corpus" / "replay"
HEADLINES = ROOT.parent / "shared" / "corpus" / "headlines-2023" / "items.jsonl.xz"
VOCABS = ("news", "stories")
ZIPF_EXPONENT = 0.5
OUTLETS = ("bbc", "cnn", "aljazeeraenglish", "nytimes", "wsj", "smh", "reuters-direct")


def load_stories(snapshots: int, outlets: Sequence[str] = OUTLETS, skip: int = 0) -> list[Story]:
    """The distinct stories of the first `snapshots` snapshots of each outlet (after the
    first `skip`)."""
    seen: set[tuple[str, str]] = set()
    stories: list[Story] = []
    for outlet in outlets:
        path = REPLAY / f"{outlet}.tar.xz"
        if not path.exists():
            continue
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if m.isfile()][skip : skip + snapshots]
            for member in members:
                data = archive.extractfile(member)
                if data is None:
                    continue
                try:
                    parsed = parse_feed(data.read(), feed=outlet)
                except Exception:
                    continue
                for story in parsed.stories:
                    key = (story.title, story.summary)
                    if key not in seen:
                        seen.add(key)
                        stories.append(story)
    return stories


def warmup_stories(stories: Sequence[Story], snapshots: int) -> list[Story]:
    """What the matcher sees before it is timed: the stories of the next `snapshots`
    snapshots of each outlet that are not among `stories`, the outlets taking turns as
    polling has them. The index files its rules by what the stories it has matched met,
    as a daemon has matched yesterday's news; these are other stories than the timed ones."""
    benched = {(s.title, s.summary) for s in stories}
    per_outlet = [
        [
            s
            for s in load_stories(snapshots, (outlet,), skip=snapshots)
            if (s.title, s.summary) not in benched
        ]
        for outlet in OUTLETS
    ]
    return [s for turn in zip_longest(*per_outlet) for s in turn if s is not None]


def vocabulary(stories: Sequence[Story]) -> tuple[list[str], list[str]]:
    """Topic words (neither the commonest nor one-offs) and names (capitalised words)."""
    counts: Counter[str] = Counter()
    capitals: Counter[str] = Counter()
    for story in stories:
        for word in re.findall(r"[^\W\d_]{4,}", f"{story.title} {story.summary}"):
            counts[fold(word)] += 1
            if word[0].isupper() and not word.isupper():
                capitals[fold(word)] += 1
    ranked = [w for w, _ in counts.most_common()]
    topic = ranked[100:5000] or ranked
    names = [w for w, n in capitals.most_common() if n >= 2 and counts[w] == n][:2000]
    return topic, names or topic


# Words no rule is written about: function words and headline verbs of speech.
_STOP_WORDS = frozenset(
    re.findall(
        r"\w+",
        """about after again also amid back been before being both could does down during each
        even from have here into just last like made make many more most much must only other
        over says said some still such than that their them then there these they this those
        three very want were what when where which while will with would year years your""",
    )
)


@functools.cache
def news_vocabulary() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Topic words and names of the 2023 headline archive, commonest first (see the module)."""
    lower: Counter[str] = Counter()
    capital: Counter[str] = Counter()
    with lzma.open(HEADLINES, "rt", encoding="utf-8") as lines:
        for line in lines:
            for word in re.findall(r"[^\W\d_]{3,}", json.loads(line)["title"] or ""):
                if word.islower():
                    lower[word] += 1
                elif word[0].isupper():
                    capital[fold(word)] += 1
    ranked = [w for w, n in lower.most_common() if n >= 3 and len(w) >= 4]
    topic = tuple(w for w in ranked if w not in _STOP_WORDS)[50:20_000]
    # A name is written capitalised at least 10 times as often as in lower case: "What" and
    # "After" start headlines, "Biden", "Gaza" and "NATO" are names.
    names = tuple(w for w, n in capital.most_common() if n >= 3 and lower[w] * 10 < n)
    return topic, names[:10_000]


def zipf(items: Sequence[str], rng: random.Random, exponent: float = 1.0) -> Callable[[], str]:
    """A draw from `items` where the item of rank r (1-based) has weight 1/r**exponent."""
    total = 0.0
    cumulative = []
    for rank in range(1, len(items) + 1):
        total += rank**-exponent
        cumulative.append(total)
    return lambda: items[min(len(items) - 1, bisect(cumulative, rng.random() * total))]


def _templates(
    w: Callable[[], str], n: Callable[[], str], place: Callable[[], str], rng: random.Random
) -> list[Callable[[], str]]:
    """The six rule shapes, over draws of a topic word, a name and a place set id."""

    def prefix() -> str:
        return w()[: rng.randint(4, 6)] + "*"

    return [
        lambda: (
            f'(@{place()} OR {n()}~ OR {n()}) AND ({w()} OR "{w()} {w()}" '
            f"OR {prefix()}) NOT ({w()} OR {w()})"
        ),
        lambda: f"{n()}~ NEAR/5 ({w()} OR {prefix()})",
        lambda: f'"{w()} {w()}" AND ({w()} OR {w()}) -{w()}',
        lambda: f"title:({n()}~ OR @{place()}) AND {prefix()}",
        lambda: f"({w()} OR {w()}) ONEAR/3 {w()}",
        lambda: f"({n()} OR {n()} OR {n()}) AND ({w()} OR {w()}-{w()} OR {prefix()})",
    ]


def generate_rules(
    stories: Sequence[Story],
    count: int,
    seed: int = 11,
    vocab: str = "news",
    exponent: float = ZIPF_EXPONENT,
) -> tuple[list[str], dict[str, PlaceNames]]:
    """`count` query texts shaped like real rules, and the place sets they use, their words
    drawn as `vocab` says (see the module: "news" or "stories")."""
    if vocab == "stories":
        return _story_rules(stories, count, seed)
    if vocab != "news":
        raise ValueError(f"vocab is one of {VOCABS}, not {vocab!r}")
    rng = random.Random(seed)
    topic, names = news_vocabulary()
    cities = sorted(default_gazetteer().cities, key=lambda c: (-c.population, c.geonameid))
    city = zipf([str(c.geonameid) for c in cities[:20_000]], rng, exponent)
    places: dict[str, PlaceNames] = {}
    chosen: set[str] = set()
    while len(places) < max(1, min(count, 500) // 5):
        geonameid = city()
        if geonameid not in chosen:
            chosen.add(geonameid)
            pid = f"p{len(places)}"
            places[pid] = resolve_place(pid, gazetteer=int(geonameid), aliases=())
    place_ids = sorted(places)
    place = zipf(place_ids, rng, exponent)
    name = zipf(names, rng, exponent)
    templates = _templates(zipf(topic, rng, exponent), lambda: name().title(), place, rng)
    return [rng.choice(templates)() for _ in range(count)], places


def _story_rules(
    stories: Sequence[Story], count: int, seed: int
) -> tuple[list[str], dict[str, PlaceNames]]:
    """The harsh generator: every word from the benched stories, drawn uniformly."""
    rng = random.Random(seed)
    topic, names = vocabulary(stories)
    places = {
        f"p{i}": PlaceNames(f"p{i}", tuple(n.title() for n in rng.sample(names, 3)))
        for i in range(max(1, min(count, 500) // 5))
    }
    place_ids = sorted(places)
    templates = _templates(
        lambda: rng.choice(topic),
        lambda: rng.choice(names).title(),
        lambda: rng.choice(place_ids),
        rng,
    )
    queries = [rng.choice(templates)() for _ in range(count)]
    return queries, places


def compile_rules(queries: Sequence[str], places: dict[str, PlaceNames]) -> list[Rule]:
    """The rules of the query texts, as config would build them."""
    return [
        Rule(f"r{i}", f"r{i}", parse_query(q, places=places).node, ("console",))
        for i, q in enumerate(queries)
    ]


def _regex_part(term: Term | Phrase) -> str:
    if isinstance(term, Phrase):
        return r"\W+".join(map(re.escape, term.words))
    if term.prefix:
        return re.escape(term.word) + r"\w*"
    return re.escape(term.word)


def baseline_regexes(rules: Sequence[Rule]) -> list[re.Pattern[str]]:
    """One regex per rule, of every word it may match: what a naive matcher runs."""
    patterns = []
    for rule in rules:
        terms = positive_terms(rule.query)
        parts = sorted({_regex_part(t) for t in terms})
        patterns.append(re.compile(rf"\b(?:{'|'.join(parts)})\b", re.IGNORECASE))
    return patterns


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` runs, the garbage collector kept out of them."""
    return median_times(work, repeat)[0]


def median_times(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The median wall and the median CPU time of `repeat` runs: CPU time is what to read
    when other work shares the machine."""
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def run_matcher(matcher: Matcher, stories: Sequence[Story]) -> None:
    """Match every story, keeping nothing."""
    for story in stories:
        matcher.match(story)


def run_baseline(patterns: Sequence[re.Pattern[str]], stories: Sequence[Story]) -> None:
    """Search every rule's regex in every story, keeping nothing."""
    for story in stories:
        text = story.text
        for pattern in patterns:
            pattern.search(text)


def compile_and_match(
    queries: Sequence[str], places: dict[str, PlaceNames], stories: Sequence[Story]
) -> None:
    """Build a matcher and match the stories: what peak memory is measured over."""
    run_matcher(Matcher(compile_rules(queries, places)), stories)


def mean_candidates(matcher: Matcher, stories: Sequence[Story]) -> float:
    """How many rules the presearcher hands to evaluation per story, on average."""
    total = sum(len(matcher.index.candidates(Document.of(s))) for s in stories)
    return total / max(1, len(stories))


def peak_mib(work: Callable[[], object]) -> float:
    """The peak of Python allocations while `work` runs, in MiB."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench(
    stories: Sequence[Story],
    sizes: Sequence[int],
    repeat: int,
    baseline_budget: int,
    vocab: str = "news",
    exponent: float = ZIPF_EXPONENT,
    warmup: Sequence[Story] = (),
) -> list[dict[str, float]]:
    """One row per rule count: compile time, stories/s, candidates, memory, baseline. The
    matcher first matches `warmup`, untimed (see `warmup_stories`)."""
    rows = []
    for size in sizes:
        queries, places = generate_rules(stories, size, vocab=vocab, exponent=exponent)
        started = time.perf_counter()
        matcher = Matcher(compile_rules(queries, places))
        compile_s = time.perf_counter() - started
        run_matcher(matcher, warmup)
        seconds, cpu = median_times(partial(run_matcher, matcher, stories), repeat)
        patterns = baseline_regexes(matcher.rules)
        # The baseline costs rules x stories: run it on as many stories as the budget allows.
        sample = stories[: max(1, min(len(stories), baseline_budget // size))]
        base = median_seconds(partial(run_baseline, patterns, sample), repeat)
        peak = peak_mib(partial(compile_and_match, queries, places, stories[:500]))
        rows.append(
            {
                "rules": size,
                "compile_s": compile_s,
                "stories_per_s": len(stories) / seconds,
                "cpu_stories_per_s": len(stories) / cpu,
                "candidates": mean_candidates(matcher, stories),
                "unindexed": len(matcher.unindexed),
                "peak_mib": peak,
                "baseline_per_s": len(sample) / base,
            }
        )
    return rows


def report(
    rows: Sequence[dict[str, float]],
    stories: int,
    repeat: int,
    vocab: str = "news",
    warmup: int = 0,
) -> str:
    """The rows as a Markdown table, with the cost ratio of the largest to 100 rules."""
    lines = [
        f"python {platform.python_version()} on {platform.machine()}; {stories:,} replayed "
        f"stories; rule words from --vocab {vocab}; median of {repeat}"
        f"{f'; after {warmup:,} other stories' if warmup else ''}",
        "",
        "| rules | compile + index | stories/s | stories/s by CPU time | candidates/story "
        "| unindexed | peak MiB | one regex per rule, stories/s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['rules']:,.0f} | {row['compile_s'] * 1000:,.0f} ms "
            f"| {row['stories_per_s']:,.0f} | {row['cpu_stories_per_s']:,.0f} "
            f"| {row['candidates']:.2f} | {row['unindexed']:.0f} "
            f"| {row['peak_mib']:.1f} | {row['baseline_per_s']:,.0f} "
            f"| {row['stories_per_s'] / row['baseline_per_s']:,.0f}x |"
        )
    by_size = {row["rules"]: row for row in rows}
    if 100 in by_size and len(rows) > 1:
        largest = rows[-1]
        ratio = by_size[100]["stories_per_s"] / largest["stories_per_s"]
        cpu = by_size[100]["cpu_stories_per_s"] / largest["cpu_stories_per_s"]
        lines.append(
            f"\n{largest['rules']:,.0f} rules cost {ratio:.2f}x what 100 rules cost per story "
            f"({cpu:.2f}x by CPU time)"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--snapshots", type=int, default=40, help="per outlet")
    parser.add_argument(
        "--warmup",
        type=int,
        default=40,
        help="snapshots per outlet after the benched ones, matched untimed first (0: none)",
    )
    parser.add_argument("--baseline-budget", type=int, default=2_000_000, help="rules x stories")
    parser.add_argument(
        "--vocab", choices=VOCABS, default="news", help="where rule words come from (see above)"
    )
    parser.add_argument(
        "--zipf", type=float, default=ZIPF_EXPONENT, help="the exponent of --vocab news draws"
    )
    args = parser.parse_args(argv)
    if not REPLAY.is_dir():
        sys.exit(f"needs the shared corpus at {REPLAY}")
    stories = load_stories(args.snapshots)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.vocab == "news" and not HEADLINES.is_file():
        sys.exit(f"--vocab news needs the headline archive at {HEADLINES}")
    warmup = warmup_stories(stories, args.warmup) if args.warmup else []
    rows = bench(stories, sizes, args.repeat, args.baseline_budget, args.vocab, args.zipf, warmup)
    vocab = f"{args.vocab}, zipf {args.zipf:g}" if args.vocab == "news" else args.vocab
    print(report(rows, len(stories), args.repeat, vocab, len(warmup)))


if __name__ == "__main__":
    main()
