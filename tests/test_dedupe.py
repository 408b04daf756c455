"""Story identity: the canonical link two feeds would agree on."""

from __future__ import annotations

import pytest

from monitor.dedupe import canonical_link, is_amp_param, is_tracking_param


def test_scheme_and_host_are_lower_cased_but_the_path_keeps_its_case() -> None:
    assert canonical_link("HTTPS://WWW.BBC.CO.UK/News/World-Africa-123") == (
        "https://bbc.co.uk/News/World-Africa-123"
    )


def test_the_fragment_is_dropped() -> None:
    assert canonical_link("https://example.com/news/1#comments") == "https://example.com/news/1"
    assert canonical_link("https://example.com/news/1#") == "https://example.com/news/1"


@pytest.mark.parametrize(
    "param",
    [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "UTM_Source",
        "at_medium",
        "at_campaign",
        "fbclid",
        "gclid",
    ],
)
def test_a_tracking_parameter_is_dropped(param: str) -> None:
    assert is_tracking_param(param)
    assert canonical_link(f"https://example.com/a?{param}=rss") == "https://example.com/a"


@pytest.mark.parametrize("param", ["id", "page", "cat_id", "utm", "xfbclid", "format"])
def test_a_parameter_that_only_looks_like_tracking_is_kept(param: str) -> None:
    assert not is_tracking_param(param)
    assert canonical_link(f"https://example.com/a?{param}=1") == f"https://example.com/a?{param}=1"


def test_the_remaining_parameters_keep_their_order() -> None:
    link = "https://example.com/a?utm_source=rss&z=3&fbclid=abc&a=1&at_medium=RSS&m=2"
    assert canonical_link(link) == "https://example.com/a?z=3&a=1&m=2"


def test_repeated_and_blank_parameters_are_kept() -> None:
    assert canonical_link("https://example.com/a?q=1&q=2&empty=") == (
        "https://example.com/a?q=1&q=2&empty="
    )


def test_an_empty_query_string_is_dropped() -> None:
    assert canonical_link("https://example.com/a?") == "https://example.com/a"


def test_the_bbc_tracking_tags_are_dropped() -> None:
    link = "https://www.bbc.co.uk/news/world-africa-51276323?at_medium=RSS&at_campaign=KARANGA"
    assert canonical_link(link) == "https://bbc.co.uk/news/world-africa-51276323"


@pytest.mark.parametrize(
    ("link", "canonical"),
    [
        pytest.param("https://example.com:443/a", "https://example.com/a", id="https-443"),
        pytest.param("http://example.com:80/a", "https://example.com/a", id="http-80"),
        pytest.param("HTTP://Example.com:80/a", "https://example.com/a", id="upper-case-http"),
        # An explicit port that is not the scheme's may be another service: both stay.
        pytest.param("http://example.com:443/a", "http://example.com:443/a", id="http-443"),
        pytest.param("http://example.com:8080/a", "http://example.com:8080/a", id="http-8080"),
        pytest.param("https://example.com:80/a", "https://example.com:80/a", id="https-80"),
    ],
)
def test_only_the_default_port_is_dropped(link: str, canonical: str) -> None:
    assert canonical_link(link) == canonical


def test_a_bare_host_and_a_host_with_a_slash_agree() -> None:
    assert canonical_link("https://example.com") == canonical_link("https://example.com/")


def test_the_same_article_from_two_feeds_gets_one_canonical_link() -> None:
    first = "https://English.Alaraby.co.uk/news/libya-ceasefire?utm_source=twitter#top"
    second = " https://english.alaraby.co.uk:443/news/libya-ceasefire?fbclid=IwAR0 "
    assert canonical_link(first) == canonical_link(second)


def test_different_articles_keep_different_canonical_links() -> None:
    assert canonical_link("https://example.com/a?id=1") != canonical_link(
        "https://example.com/a?id=2"
    )
    assert canonical_link("https://example.com/News") != canonical_link("https://example.com/news")


@pytest.mark.parametrize(
    "link",
    [
        "HTTPS://Example.com:443/News?utm_source=x&id=5#top",
        "http://www.amp.example.com/a/amp/amp/?amp=1&outputType=amp#c",
        "https://example.com/amp/amp",
        "http://example.com:443/a/",
        "https://www.com/",
        "https://example.com/a?q=%20x&b=a+b&flag",
        "https://example.com/a?x=%C3%A9&y=\u00e9",
        "http://example.com:8080/a;params?x=1",
    ],
)
def test_a_canonical_link_is_its_own_canonical_link(link: str) -> None:
    canonical = canonical_link(link)
    assert canonical_link(canonical) == canonical


@pytest.mark.parametrize("link", ["", "   ", "\n\t"])
def test_an_empty_link_has_an_empty_canonical_link(link: str) -> None:
    assert canonical_link(link) == ""


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("not a url", id="words"),
        pytest.param("http://[::1", id="unclosed-ipv6-bracket"),
        pytest.param("https://example.com:99999/a", id="port-out-of-range"),
        pytest.param("https://example.com:port/a", id="port-not-a-number"),
        pytest.param("::::", id="colons"),
        pytest.param("http://", id="scheme-only"),
        pytest.param("%%%?&&==#", id="punctuation"),
        pytest.param("mailto:desk@example.com", id="mailto"),
    ],
)
def test_a_garbage_link_does_not_raise(link: str) -> None:
    canonical = canonical_link(link)
    assert isinstance(canonical, str)
    assert canonical_link(canonical) == canonical


def test_a_link_that_cannot_be_parsed_is_kept_as_it_is() -> None:
    assert canonical_link(" http://[::1 ") == "http://[::1"


@pytest.mark.parametrize(
    ("link", "canonical"),
    [
        pytest.param("https://[2001:DB8::1]/a", "https://[2001:db8::1]/a", id="no-port"),
        pytest.param("https://[2001:db8::1]:443/a", "https://[2001:db8::1]/a", id="default-port"),
        pytest.param("https://[2001:db8::1]:8443/a", "https://[2001:db8::1]:8443/a", id="port"),
    ],
)
def test_an_ipv6_host_keeps_its_brackets(link: str, canonical: str) -> None:
    # Without them "[2001:db8::1]:8443" and "[2001:db8::1:8443]" become one link.
    assert canonical_link(link) == canonical


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        # The pair: one article under two spellings of its link.
        ("https://www.example.com/a?utm_source=x", "http://example.com/a/?fbclid=y#comments", True),
        ("http://example.com/a", "https://example.com/a", True),
        ("https://www.example.com/a", "https://example.com/a", True),
        ("https://WWW.Example.com/a", "https://example.com/a", True),
        ("https://example.com/a/", "https://example.com/a", True),
        ("https://example.com/a//", "https://example.com/a", True),
        ("https://example.com/a/?id=1", "https://example.com/a?id=1", True),
        ("https://example.com/", "https://www.example.com", True),
        # The AMP editions of a page.
        ("https://example.com/news/a/amp", "https://example.com/news/a", True),
        ("https://example.com/news/a/amp/", "https://example.com/news/a", True),
        ("https://amp.example.com/news/a", "https://example.com/news/a", True),
        ("https://www.example.com/news/a?outputType=amp", "https://example.com/news/a", True),
        ("https://example.com/news/a?outputtype=AMP", "https://example.com/news/a", True),
        ("https://example.com/news/a?amp=1", "https://example.com/news/a", True),
        ("https://example.com/news/a?amp", "https://example.com/news/a", True),
        ("https://example.com/a?id=3&amp=1", "https://example.com/a?id=3", True),
        ("http://amp.example.com/a/amp/?amp=1#x", "https://www.example.com/a", True),
        # Different articles stay different.
        ("https://example.com/a", "https://example.com/b", False),
        ("https://example.com/a/b", "https://example.com/a", False),
        ("https://example.com/a?id=1", "https://example.com/a?id=2", False),
        ("https://example.com/a?page=2", "https://example.com/a", False),
        ("https://example.com/camp", "https://example.com/c", False),
        ("https://example.com/news/camp", "https://example.com/news", False),
        ("https://example.com/news/amplify", "https://example.com/news", False),
        ("https://example.com/news/a.amp", "https://example.com/news/a", False),
        ("https://example.com/amp", "https://example.com/", False),
        ("https://example.com/amp/", "https://example.com/", False),
        ("https://example.com/a?amp=0", "https://example.com/a", False),
        ("https://example.com/a?outputType=print", "https://example.com/a", False),
        ("https://example.com/News", "https://example.com/news", False),
        ("https://example.com:8080/a", "https://example.com/a", False),
        ("http://example.com:8080/a", "https://example.com:8080/a", False),
        ("https://example.org/a", "https://example.com/a", False),
        ("https://news.example.com/a", "https://example.com/a", False),
        ("https://www2.example.com/a", "https://example.com/a", False),
        ("https://www.com/a", "https://com/a", False),
        ("https://wwwexample.com/a", "https://example.com/a", False),
        ("https://campaign.example.com/a", "https://paign.example.com/a", False),
        ("ftp://www.example.com/a", "ftp://example.com/a", False),
        ("ftp://example.com/a", "https://example.com/a", False),
    ],
)
def test_two_spellings_of_a_link_are_one_story_only_when_they_name_one_page(
    first: str, second: str, same: bool
) -> None:
    assert (canonical_link(first) == canonical_link(second)) is same


@pytest.mark.parametrize(
    ("name", "value", "amp"),
    [
        ("amp", "1", True),
        ("AMP", "true", True),
        ("amp", "", True),
        ("outputType", "amp", True),
        ("outputType", "AMP", True),
        ("amp", "0", False),
        ("amp", "page", False),
        ("outputType", "print", False),
        ("ampersand", "1", False),
        ("output", "amp", False),
    ],
)
def test_only_the_amp_switches_count_as_amp_params(name: str, value: str, amp: bool) -> None:
    assert is_amp_param(name, value) is amp
