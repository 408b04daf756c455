"""Story identity for dedupe: the keys under which a story counts as seen before. Pure.

A story is a repeat when its feed already had its guid, or when any other feed already had
its canonical link, or its own feed had the same canonical link with the same #fragment.
`identity_keys` says which keys a story has and `is_repeat` decides; the store only looks
keys up and inserts them under a UNIQUE constraint, so "never twice" is a database fact.
An item with neither guid nor link is also known by a hash of its normalised title and
summary (`text_key`), since the guid parse.py makes up for it changes with a space.
Cross-outlet clustering of different articles about one event is `monitor.dedupe.cluster`.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.models import Story
from monitor.text import fold_words

# Parameters that say where a click came from, never which article it is.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "cmpid",
        "ocid",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "smid",
        "ref_src",
        "__twitter_impression",
    }
)
# utm_* (Google Analytics), at_* (the BBC's AT Internet tags: at_medium, at_campaign…).
_TRACKING_PREFIXES = ("utm_", "at_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# http and https links to one page are one story; https is what most sites redirect to.
_WEB_SCHEME = "https"
_EDITION_PREFIXES = ("www.", "amp.")
_AMP_FLAGS = frozenset({"1", "true", "yes", ""})


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter only tracks the click (utm_*, at_medium, fbclid…)."""
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def is_amp_param(name: str, value: str) -> bool:
    """Whether a query parameter only asks for the AMP edition (`?amp=1`, `?outputType=amp`)."""
    lowered, value = name.lower(), value.lower()
    if lowered == "amp":
        return value in _AMP_FLAGS
    return lowered == "outputtype" and value == "amp"


def _web_host(host: str) -> str:
    """The host without the prefixes that name one site's editions: `www.`, `amp.`.
    A prefix stays when what is left would be a bare name (`www.com` is its own site)."""
    while True:
        for prefix in _EDITION_PREFIXES:
            rest = host.removeprefix(prefix)
            if rest != host and "." in rest:
                host = rest
                break
        else:
            return host


def _web_path(path: str) -> str:
    """The path without trailing slashes and without the AMP edition's last `/amp`
    segment; a path that is only `/amp` is a page called amp, and stays."""
    path = path.rstrip("/")
    while path.endswith("/amp") and path.removesuffix("/amp").rstrip("/"):
        path = path.removesuffix("/amp").rstrip("/")
    return path or "/"


# The store asks for a story's keys when it looks it up and again when it stores it.
@lru_cache(maxsize=16384)
def canonical_link(link: str) -> str:
    """The form of a link two feeds would agree on. Scheme and host lower-cased, default
    port, fragment and tracking parameters dropped, the other parameters kept in order.
    A web link also loses what only says which edition of the page it is: http against
    https, `www.` and `amp.` hosts, a trailing slash, a final `/amp`, `?amp=1`."""
    link = link.strip()
    if not link:
        return ""
    try:
        parts = urlsplit(link)
        port = parts.port
    except ValueError:
        return link
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    web = scheme in _DEFAULT_PORTS and bool(host)
    default_port = port is None or _DEFAULT_PORTS.get(scheme) == port
    if web:
        host = _web_host(host)
        if default_port:  # an explicit other port may be another service: its scheme stays
            scheme = _WEB_SCHEME
    if ":" in host:  # IPv6 keeps its brackets
        host = f"[{host}]"
    netloc = host if default_port else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not is_tracking_param(k) and not (web and is_amp_param(k, v))
        ]
    )
    path = _web_path(parts.path) if web else parts.path or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


class KeyKind(StrEnum):
    """The ways two items can be the same story."""

    GUID = "guid"  # the same feed's guid: always the same story
    POST = "post"  # the same feed's canonical link with the same #fragment (a live-blog post)
    LINK = "link"  # the canonical link in any feed: the same story, unless in its own feed
    TEXT = "text"  # the same feed's normalised title and summary, for items with no guid or link


@dataclass(frozen=True)
class IdentityKey:
    """One key a story is known by. `value` is unique per kind across the whole store."""

    kind: KeyKind
    value: str


def identity_keys(story: Story) -> tuple[IdentityKey, ...]:
    """The keys under which a story is stored, and looked up to tell whether it is a repeat.

    GUID and POST keys carry the feed's name, so they only ever meet the same feed's items.
    The LINK key is shared by every feed; the first story to claim it owns it. An item with
    neither guid nor link also has its feed's TEXT key (`text_key`).
    """
    keys = [IdentityKey(KeyKind.GUID, f"{story.feed}\x1f{story.guid}")]
    canonical = canonical_link(story.link)
    if canonical:
        fragment = story.link.partition("#")[2]
        keys.append(IdentityKey(KeyKind.POST, f"{story.feed}\x1f{canonical}#{fragment}"))
        keys.append(IdentityKey(KeyKind.LINK, canonical))
    else:
        text = text_key(story)
        if text is not None:
            keys.append(text)
    return tuple(keys)


# parse.py gives an item with neither guid nor link the guid "sha1:" + a hash of its raw
# title and summary, so such a story still has a GUID key; that hash changes with a space.
SYNTHETIC_GUID_PREFIX = "sha1:"


def normalised_text(title: str, summary: str) -> str:
    """Title and summary as the words a reader sees: entities decoded, case and accents
    folded, punctuation and spacing dropped, a cut summary's final "…" ignored."""
    words = [*fold_words(html.unescape(title)), "\x1f"]
    words += fold_words(html.unescape(summary).rstrip().removesuffix("…"))
    return " ".join(words)


def text_key(story: Story) -> IdentityKey | None:
    """The TEXT key of a story that has neither a guid of its own nor a link, else None.

    Such an item (RSS 0.91, odd Atom) can only be known by its words: a hash of its
    `normalised_text`, scoped to its feed like a guid, so re-spacing or re-encoding the
    same text is the same story, while two outlets' identical wire copy stay two stories
    (clustering puts them together). Stories stored before this key existed were given it
    from their stored words (the store's migration m007).
    """
    if story.link.strip() or (story.guid and not story.guid.startswith(SYNTHETIC_GUID_PREFIX)):
        return None
    text = normalised_text(story.title, story.summary)
    if text == "\x1f":
        return None  # no words at all: nothing to know it by
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return IdentityKey(KeyKind.TEXT, f"{story.feed}\x1f{digest}")


def is_repeat(story: Story, found: Mapping[IdentityKey, str]) -> bool:
    """Whether a story was seen before, given those of its `identity_keys` that the store
    already holds, each mapped to the feed that owns it.

    Any GUID or POST key held means the same feed had it. A LINK key held by another feed
    means another outlet carried the same article. A LINK key held by the story's own feed
    is not enough: a live blog publishes its posts as #fragments of one page.
    """
    return any(key.kind is not KeyKind.LINK or owner != story.feed for key, owner in found.items())
