"""`name~`: the spellings news uses for a name, measured on real 2023 headlines."""

from __future__ import annotations

import json
import lzma
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from monitor.rules import names
from monitor.rules.names import (
    curated_variants,
    is_common_word,
    is_spelling_of,
    spelling_key,
    spelling_keys,
)
from monitor.text import fold, fold_words


def _variant_file() -> dict[str, list[str]]:
    text = resources.files("monitor.rules").joinpath("data/name_variants.yaml").read_text("utf-8")
    data: dict[str, list[str]] = YAML(typ="safe").load(text)
    return data


VARIANTS = _variant_file()


def _folded(spelling: str) -> str:
    return " ".join(fold_words(spelling))


# The issue's examples, and Arabic script, including spellings the data file does not list
# (so the skeleton, not the curated lookup, must reach them).
MUST_MATCH = [
    ("Haftar", "Hifter"),
    ("Haftar", "Hafter"),
    ("Haftar", "Heftar"),
    ("Gaddafi", "Qaddafi"),
    ("Gaddafi", "Kadhafi"),
    ("Gaddafi", "Gadhafi"),
    ("Gaddafi", "Qadhafi"),
    ("Gaddafi", "Khadafy"),
    ("Gaddafi", "Gheddafi"),
    ("Misrata", "Misurata"),
    ("Misrata", "Misratah"),
    ("Misrata", "Masrata"),
    ("Misrata", "Misrātah"),
    ("Sirte", "Sirt"),
    ("Sirte", "Surt"),
    ("Benghazi", "Bengasi"),
    ("Ajdabiya", "Agedabia"),
    ("Tobruk", "Tubruq"),
    ("Zawiya", "Zawiyah"),
    ("Misrata", "مصراتة"),
    ("Benghazi", "بنغازي"),
    ("Tripoli", "طرابلس"),
    ("Sirte", "سرت"),
    ("Haftar", "حفتر"),
    ("Gaddafi", "القذافي"),
    ("Tobruk", "طبرق"),
    ("Derna", "درنة"),
    # Not in the data file: found by skeleton and vowel-folded distance alone.
    ("Haftar", "Hiftir"),
    ("Gaddafi", "Qadhaffi"),
    ("Gaddafi", "Gaddafy"),
    ("Misrata", "Misuratah"),
    ("Benghazi", "Benghasy"),
    ("Dbeibah", "Dbeybah"),
    ("Misrata", "مصراته"),  # haa for taa marbuta
    ("Gaddafi", "قذافي"),  # no article
    ("Benghazi", "بنغازى"),  # alif maqsura
    ("Zelensky", "Zelenskyy"),  # a name nobody curated
]

# Common English words and first names whose skeleton meets a name's, and near misses.
MUST_NOT_MATCH = [
    ("Haftar", "after"),
    ("Haftar", "hefty"),
    ("Haftar", "fifteen"),
    ("Sirte", "site"),
    ("Sirte", "sort"),
    ("Sirte", "sorta"),
    ("Sirte", "sir"),
    ("Sirte", "surf"),
    ("Sirte", "street"),
    ("Sirte", "Soriot"),
    ("Gaddafi", "daffy"),
    ("Gaddafi", "Jusuf"),
    ("Gaddafi", "codify"),
    ("Benghazi", "banks"),
    ("Benghazi", "Bangash"),
    ("Tripoli", "triple"),
    ("Tripoli", "triples"),
    ("Derna", "darn"),
    ("Derna", "drone"),
    ("Derna", "Moderna"),
    ("Derna", "Doreen"),
    ("Derna", "Darien"),
    ("Gharyan", "Karine"),
    ("Gharyan", "Karen"),
    ("Gharyan", "Joran"),
    ("Gharyan", "Ciaran"),
    ("Kufra", "Jofra"),
    ("Kufra", "cover"),
    ("Brega", "Brice"),
    ("Brega", "break"),
    ("Bashagha", "Psaki"),
    ("Sarraj", "Sharjah"),
    ("Zintan", "Swinton"),
    ("Zawiya", "zoo"),
    ("Zawiya", "away"),
    ("Zawiya", "Zawadi"),
    ("Misrata", "mistreat"),
    ("Misrata", "Mysore"),
    ("Misrata", "Mazaurette"),  # a French writer in a Daily Mail story (replay corpus)
    ("Sirte", "Seeruttun"),
    ("Sabha", "Shabiha"),
    ("What", "wat"),  # a common word as the name matches only itself
]


@pytest.mark.parametrize(("name", "word"), MUST_MATCH)
def test_news_spellings_match(name: str, word: str) -> None:
    n, w = fold(name), fold(word)
    assert is_spelling_of(n, w), (name, word, spelling_key(n), spelling_key(w))
    assert spelling_key(w) in spelling_keys(n)


@pytest.mark.parametrize(("name", "word"), MUST_NOT_MATCH)
def test_ordinary_words_and_other_names_do_not_match(name: str, word: str) -> None:
    assert not is_spelling_of(fold(name), fold(word))


def test_every_curated_spelling_matches_every_other_of_its_group_under_its_keys() -> None:
    for canonical, spellings in VARIANTS.items():
        group = {_folded(s) for s in [canonical, *spellings]}
        one_words = sorted(s for s in group if " " not in s)
        for name in one_words:
            keys = spelling_keys(name)
            assert set(curated_variants(name)) == group - {name}
            for word in one_words:
                assert is_spelling_of(name, word), (name, word)
                assert spelling_key(word) in keys, (name, word)


def test_the_data_file_has_the_spellings_the_issue_names() -> None:
    assert len(VARIANTS["gaddafi"]) >= 15
    required = {
        "misrata": ["Misurata", "Misratah", "Masrata"],
        "abugrein": ["Abu Qurayn", "Abu Grein"],
        "haftar": ["Hifter", "Hafter"],
        "benghazi": ["Bengasi", "Banghazi"],
        "ajdabiya": ["Ajdabia", "Agedabia"],
        "sirte": ["Sirt", "Surt"],
        "tobruk": ["Tubruq"],
        "zawiya": ["Zawiyah", "Az Zawiyah"],
    }
    for name, spellings in required.items():
        assert set(spellings) <= set(VARIANTS[name]), name


@pytest.mark.parametrize(
    ("name", "word", "tolerance", "expected"),
    [
        ("haftar", "hafitar", None, True),  # one vowel slot more: the default 1 edit
        ("haftar", "hafitar", 0, False),
        ("haftar", "hafitara", None, False),
        ("haftar", "hafitara", 2, True),
        ("derna", "derena", None, False),  # a 3-consonant skeleton defaults to 0
        ("derna", "derena", 1, True),
        ("misrata", "misurata", 0, True),  # curated spellings ignore the tolerance
        ("haftar", "after", 5, False),  # another skeleton is never reached
        ("sirte", "sort", 3, False),  # nor a common word
    ],
)
def test_tolerance_tunes_the_vowel_folded_distance(
    name: str, word: str, tolerance: int | None, expected: bool
) -> None:
    assert is_spelling_of(name, word, tolerance) is expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("what", True),
        ("after", True),
        ("site", True),
        ("sorta", True),
        ("haftar", False),
        ("hifter", False),
        ("benghazi", False),  # frequent in English text, but a curated name
        ("tripoli", False),
        ("zelensky", False),
    ],
)
def test_common_words(word: str, expected: bool) -> None:
    assert is_common_word(word) is expected


def test_curated_variants_give_phrases_and_reach_other_keys() -> None:
    assert {"abu grein", "abugrein"} <= set(curated_variants("abu qurayn"))
    assert "abugrein" not in curated_variants("abugrein")
    assert len(curated_variants("qaddafi")) >= 15
    assert curated_variants("zelensky") == ()
    # Tarabulus has another skeleton than Tripoli: ENGINE indexes Tripoli~ under both.
    assert spelling_key("tarabulus") != spelling_key("tripoli")
    assert spelling_key("tarabulus") in spelling_keys("tripoli")
    assert is_spelling_of("tripoli", "tarabulus")


def test_spelling_key_classes() -> None:
    assert spelling_key("qaddafi") == spelling_key("kadhafi") == "kdf"
    assert spelling_key("misratah") == spelling_key("misrata") == spelling_key("مصراتة")
    assert spelling_key("zawiya") == "sw"  # too short to match but by the curated data


def _headlines(corpus: Path) -> list[str]:
    path = corpus / "headlines-2023" / "items.jsonl.xz"
    with lzma.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["title"] or "" for line in f]


def test_recall_and_false_hits_over_real_headlines(corpus: Path) -> None:
    """One `Name~` rule per curated name over 126,026 real 2023 headlines.

    Recall: the share of the file's spellings that the rule matches as a headline word, and
    (reported) the share reached without the curated lookup. A false hit is a headline word
    the rule accepts that the file does not list for the name; they are printed for a human.
    """
    headlines = _headlines(corpus)
    by_key: dict[str, list[str]] = defaultdict(list)
    for name in VARIANTS:
        for key in spelling_keys(name):
            by_key[key].append(name)
    curated = {n: set(curated_variants(n)) for n in VARIANTS}
    phrases = {n: [p.split() for p in curated[n] if " " in p] for n in VARIANTS}

    hits: dict[str, Counter[str]] = defaultdict(Counter)
    alerts: Counter[str] = Counter()
    false_alerts: Counter[str] = Counter()
    for headline in headlines:
        words = fold_words(headline)
        fired: dict[str, bool] = {}  # name -> whether on a curated spelling only
        for word in words:
            for name in by_key.get(spelling_key(word), ()):
                if is_spelling_of(name, word):
                    hits[name][word] += 1
                    true = word == name or word in curated[name]
                    fired[name] = fired.get(name, True) and true
        present = set(words)
        for name, spelled in phrases.items():
            if any(p[0] in present and _contains(words, p) for p in spelled):
                fired[name] = fired.get(name, True)
        for name, true in fired.items():
            alerts[name] += 1
            if not true:
                false_alerts[name] += 1

    total = reached = one_word = fuzzy_reached = 0
    for name, spellings in VARIANTS.items():
        for spelling in spellings:
            total += 1
            reached += _rule_matches(name, fold_words(spelling))
    # Without the curated lookup: what the skeleton and the distance alone reach.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(names, "_group_of", lambda name: frozenset())
        for name, spellings in VARIANTS.items():
            for spelling in spellings:
                words = fold_words(spelling)
                if len(words) == 1:
                    one_word += 1
                    fuzzy_reached += is_spelling_of(name, words[0])
    recall, fuzzy_recall = reached / total, fuzzy_reached / one_word
    per_10k = {n: false_alerts[n] * 10_000 / len(headlines) for n in VARIANTS}
    mean_per_10k = sum(per_10k.values()) / len(per_10k)

    print(f"\n{len(headlines)} headlines, {len(VARIANTS)} Name~ rules, {total} news spellings")
    print(f"recall {recall:.3f} ({reached}/{total})")
    print(f"one-word spellings reached without the curated data: {fuzzy_recall:.3f} of {one_word}")
    print(f"false alerts per 10,000 headlines: mean {mean_per_10k:.2f} per rule")
    for name in VARIANTS:
        false_words = {w: c for w, c in hits[name].items() if w != name}
        false_words = {w: c for w, c in false_words.items() if w not in curated[name]}
        print(f"  {name}~: {alerts[name]} alerts, {false_alerts[name]} false {false_words}")

    assert recall >= 0.95
    assert fuzzy_recall >= 0.75  # a regression guard on the skeleton design (measured 0.81)
    assert mean_per_10k <= 1.0
    assert max(per_10k.values()) <= 1.0  # every single rule, not only on average
    # The Libyan news of 2023 is in there: the rules do fire.
    assert alerts["derna"] >= 40 and alerts["gaddafi"] >= 5 and alerts["haftar"] >= 2


def _contains(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def _rule_matches(name: str, words: list[str]) -> bool:
    """Whether a `name~` rule matches a text of these words: one word, or a curated phrase."""
    if any(is_spelling_of(name, w) for w in words):
        return True
    return any(_contains(words, p.split()) for p in curated_variants(name) if " " in p)
