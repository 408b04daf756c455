"""Place sets: the trap filter, resolving gazetteer references, and the data file itself."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path

import pytest

from monitor.rules import places
from monitor.rules.places import (
    PlaceError,
    PlaceNames,
    default_gazetteer,
    load_gazetteer,
    name_key,
    resolve_place,
    trap_reason,
)

ROOT = Path(__file__).resolve().parent.parent.parent
DATA_FILE = ROOT / "monitor" / "rules" / "data" / places.GAZETTEER_FILE

MAIN_NAMES: Mapping[str, Collection[str]] = {
    "homs": {"SY"},
    "tripoli": {"LY", "LB", "GR"},
    "el gedid": {"LY"},
}

# (alternate name, its city, the city's country, the reason it is dropped or None)
TRAPS = [
    ("TIP", "Tripoli", "LY", "a code (IATA, ICAO or similar)"),
    ("BEN", "Benghazi", "LY", "a code (IATA, ICAO or similar)"),
    ("SRX", "Sirte", "LY", "a code (IATA, ICAO or similar)"),
    ("WAX", "Zuwarah", "LY", "a code (IATA, ICAO or similar)"),
    ("Misrata2", "Misratah", "LY", "a code or a qualified name"),
    ("tbrq", "Tobruk", "LY", "a machine romanisation (lower case)"),
    ("de li bo li", "Tripoli", "LY", "a machine romanisation (lower case)"),
    ("fun", "Hūn", "LY", "a machine romanisation (lower case)"),
    ("Hon", "Hūn", "LY", "a common English word"),
    ("White Monastery", "Al Bayḑā’", "LY", "a common English word"),  # noqa: RUF001
    ("Ea", "Tripoli", "LY", "shorter than 3 letters"),
    ("Oea", "Tripoli", "LY", "an ancient, colonial or historical name"),
    ("Berenice", "Benghazi", "LY", "an ancient, colonial or historical name"),
    ("Hesperides", "Benghazi", "LY", "an ancient, colonial or historical name"),
    ("Antipyrgos", "Tobruk", "LY", "an ancient, colonial or historical name"),
    ("Macomades-Euphranta", "Sirte", "LY", "an ancient, colonial or historical name"),
    ("Giovanni Berta", "Al Qubbah", "LY", "an ancient, colonial or historical name"),
    ("Homs", "Al Khums", "LY", "the name of a city in another country"),
    ("Мисрата", "Misratah", "LY", "not in Latin or Arabic script"),
    ("طرابلس، لیبیا", "Tripoli", "LY", "a code or a qualified name"),
    # kept
    ("Homs", "Homs", "SY", None),
    ("Tripoli", "Tripoli", "LB", None),
    ("Tripolis", "Tripoli", "LY", None),
    ("Misurata", "Misratah", "LY", None),
    ("Mişrātah", "Misratah", "LY", None),
    ("مصراتة", "Misratah", "LY", None),
    ("Marsa Brega", "Al Burayqah", "LY", None),
    ("El-Gedid", "Sabha", "LY", None),
    ("Bengasi", "Benghazi", "LY", None),
]


@pytest.mark.parametrize(("name", "city", "country", "reason"), TRAPS, ids=[t[0] for t in TRAPS])
def test_trap_filter_drops_names_that_would_match_ordinary_text(
    name: str, city: str, country: str, reason: str | None
) -> None:
    assert trap_reason(name, city=city, country=country, main_names=MAIN_NAMES) == reason


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Misrātah", "misratah"),
        ("Al-Khums", "al khums"),
        ("Al ‘Azīzīyah", "al aziziyah"),  # noqa: RUF001
        ("Qasr Za`faran", "qasr zafaran"),
        ("الزنتان\u200e", "الزنتان"),
        ("طَرَابُلُس", "طرابلس"),
    ],
)
def test_names_compare_folded_without_apostrophes_or_hyphens(name: str, key: str) -> None:
    assert name_key(name) == key


# (gazetteer reference, names that must be there, traps that must not)
CITIES = [
    (
        "Misratah, LY",
        {"Misratah", "Misrata", "Misurata", "مصراتة"},
        {"MRA", "msrath", "myswrth", "Мисрата"},
    ),
    (
        "Tripoli, LY",
        {"Tripoli", "Tarabulus", "Trablus", "طرابلس"},
        {"TIP", "Oea", "Aea", "Ea", "trabls", "tripoli"},
    ),
    (
        "Benghazi",
        {"Benghazi", "Bengasi", "Banghazi", "بنغازي"},
        {"BEN", "Berenice", "Hesperides", "bnghazy"},
    ),
    ("Sirte", {"Sirte", "Sirt", "Surt", "سرت"}, {"SRX", "Macomades-Euphranta", "srt"}),
    ("Tobruk", {"Tobruk", "Tubruq", "Tobruch", "طبرق"}, {"TOB", "tbrq", "Antipyrgos"}),
    ("Al Khums, LY", {"Al Khums", "Khoms", "الخمس"}, {"Homs", "Labdah", "Lebda", "alkhms"}),
    ("Hun, LY", {"Hūn", "Huun", "هون"}, {"Hon", "fun", "HUQ"}),
    ("Darnah, LY", {"Darnah", "Derna", "درنة"}, {"DNF", "Darnis"}),
]


@pytest.mark.parametrize(("reference", "present", "absent"), CITIES, ids=[c[0] for c in CITIES])
def test_a_gazetteer_city_brings_its_usable_names_and_none_of_its_traps(
    reference: str, present: set[str], absent: set[str]
) -> None:
    names = set(resolve_place("p", gazetteer=reference, aliases=[]).names)
    assert present <= names
    assert not absent & names


def test_a_name_that_fits_several_cities_is_an_error_listing_them_by_population() -> None:
    with pytest.raises(PlaceError) as error:
        resolve_place("tripoli", gazetteer="Tripoli", aliases=[])
    message = str(error.value)
    assert "'tripoli'" in message
    assert "add the country code" in message
    candidates = re.findall(r"(\S+, [A-Z]{2}) \(geonameid (\d+), pop \d+\)", message)
    assert candidates == [
        ("Tripoli, LY", "2210247"),
        ("Tripoli, LB", "266826"),
        ("Trípoli, GR", "252601"),
    ]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Tripoli, LB", "Tripoli"),
        ("Tripoli, gr", "Trípoli"),
        ("Misrata", "Misratah"),  # an alternate name, when no city has it as its main name
        ("misratah ,  LY", "Misratah"),
        ("Al Bayda, LY", "Al Bayḑā’"),  # noqa: RUF001
    ],
)
def test_a_country_code_or_an_alternate_name_picks_one_city(reference: str, expected: str) -> None:
    assert resolve_place("p", gazetteer=reference, aliases=[]).names[0] == expected


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("Tripoli, XX", ["no such city in XX", "Tripoli, LY (geonameid 2210247"]),
        ("Misratah, Libya", ["'Libya' is not a two-letter country code"]),
        ("Misratta, LY", ["no such city", "did you mean", "Misratah, LY (geonameid 2214846"]),
        ("Bengazhi", ["no such city", "Benghazi, LY"]),
        ("Tripolli", ["did you mean", "Tripoli, LY", "Tripoli, LB"]),
        ("Qwxyz", ["gazetteer 'Qwxyz': no such city"]),
        (", LY", ["write 'Name, CC' or a geonameid"]),
        (1, ["no city with geonameid 1"]),
    ],
)
def test_a_reference_that_fits_no_city_says_why_and_what_is_close(
    reference: str | int, words: list[str]
) -> None:
    with pytest.raises(PlaceError) as error:
        resolve_place("misrata", gazetteer=reference, aliases=[])
    assert str(error.value).startswith("place 'misrata': ")
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize("geonameid", [2214846, "2214846"])
def test_a_geonameid_names_the_city(geonameid: int | str) -> None:
    by_id = resolve_place("misrata", gazetteer=geonameid, aliases=[])
    assert by_id == resolve_place("misrata", gazetteer="Misratah, LY", aliases=[])


def test_aliases_come_first_as_written_and_repeats_are_dropped() -> None:
    place = resolve_place(
        "misrata", gazetteer="Misratah, LY", aliases=["Masrata", "مصراتة", "MISRATA"]
    )
    assert place.names[:3] == ("Masrata", "مصراتة", "MISRATA")
    assert "Misrata" not in place.names  # the alias "MISRATA" is the same name
    assert len({name_key(n) for n in place.names}) == len(place.names)


def test_aliases_alone_need_no_gazetteer_and_do_not_load_it() -> None:
    default_gazetteer.cache_clear()
    place = resolve_place(
        "abu-qurayn",
        gazetteer=None,
        aliases=["Abu Qurayn", "Abugrein", " Abu Grein ", "Abu Qurain"],
    )
    assert place == PlaceNames("abu-qurayn", ("Abu Qurayn", "Abugrein", "Abu Grein", "Abu Qurain"))
    assert default_gazetteer.cache_info().currsize == 0
    resolve_place("sirte", gazetteer="Sirte", aliases=[])
    resolve_place("tobruk", gazetteer="Tobruk", aliases=[])
    assert default_gazetteer.cache_info().misses == 1


@pytest.mark.parametrize(
    ("aliases", "gazetteer", "words"),
    [([], None, "has no names"), (["Sirte", " "], None, "an alias is empty"), ([], True, "write")],
)
def test_a_place_set_without_usable_names_is_an_error(
    aliases: list[str], gazetteer: bool | None, words: str
) -> None:
    with pytest.raises(PlaceError, match=words):
        resolve_place("p", gazetteer=gazetteer, aliases=aliases)


def test_the_data_file_is_small_and_carries_its_credit_and_licence() -> None:
    assert DATA_FILE.stat().st_size < 2_000_000
    gazetteer = load_gazetteer(DATA_FILE)
    assert "GeoNames (https://www.geonames.org/)" in gazetteer.credit
    assert "CC BY 4.0" in gazetteer.credit
    readme = (DATA_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert "GeoNames" in readme
    assert "Creative Commons Attribution 4.0" in readme
    assert len(gazetteer.cities) > 30_000
    # GeoNames' cities15000 also holds a few capitals of districts with no population given.
    small = [city for city in gazetteer.cities if city.population < 15_000]
    assert len(small) < len(gazetteer.cities) / 100


def test_the_data_file_holds_no_codes_and_no_lower_case_romanisations() -> None:
    for city in default_gazetteer().cities:
        for name in city.names:
            assert not re.fullmatch(r"[A-Z]{2,4}", name), (city.label(), name)
            assert not (name.isascii() and name == name.lower()), (city.label(), name)


def test_every_libyan_name_in_the_data_file_passes_the_trap_filter() -> None:
    libya = [city for city in default_gazetteer().cities if city.country == "LY"]
    assert len(libya) > 50
    for city in libya:
        for name in city.names:
            assert trap_reason(name, city=city.name, country="LY") is None, (city.label(), name)
