"""A feed document's items by their bytes: where each starts and ends, a digest of each,
and the document with only some of them left. Pure.

The poller remembers the digests of a feed's last document; parse cuts the items it has
seen byte for byte out before feedparser reads the rest (ARCHITECTURE.md, 2026-12-02).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

# The first element's start tag: the root, once the prolog and any doctype are passed.
FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
# An item's start tag (RSS <item>, Atom <entry>, with any namespace prefix) and end tag.
_ITEM_START = re.compile(rb"<((?:[\w.-]+:)?(?:item|entry))[\s>/]")
ITEM_END = re.compile(rb"</((?:[\w.-]+:)?(?:item|entry))\s*>")
_CHANNEL_TAG = re.compile(rb"<(?:[\w.-]+:)?channel(?:\s[^>]*)?>")


def item_spans(data: bytes) -> list[tuple[int, int]] | None:
    """Where each item of a document starts and ends, or None when the items cannot be told
    apart with certainty by their bytes: an item inside an item, an item not closed (cut
    off, self-closed), or an end tag that may stand inside a CDATA section or a comment.
    UTF-16/32 documents have none (the patterns are ASCII)."""
    starts = list(_ITEM_START.finditer(data))
    ends = list(ITEM_END.finditer(data))
    if len(starts) != len(ends):
        return None
    spans: list[tuple[int, int]] = []
    last = 0
    # Two scans in C and a walk over the pairs: each start must come after the last end,
    # and close with its own name.
    for start, end in zip(starts, ends, strict=True):
        begin, finish = start.start(), end.end()
        if begin < last or end.start() < start.end() or start[1] != end[1]:
            return None
        if data.count(b"<![CDATA[", begin, finish) != data.count(b"]]>", begin, finish) or (
            data.count(b"<!--", begin, finish) != data.count(b"-->", begin, finish)
        ):
            return None
        spans.append((begin, finish))
        last = finish
    return spans


def item_digests(
    data: bytes,
    spans: Sequence[tuple[int, int]],
    *,
    headers: Mapping[str, str],
    base_url: str,
) -> list[int]:
    """A 64-bit digest of each item: its bytes, and what else decides what parsing makes of
    them (the encoding from the prolog or Content-Type, the root's and channel's namespaces
    and xml:base, the URL links are resolved against). Two equal digests, one story."""
    root = FIRST_ELEMENT.search(data)
    head_end = data.find(b">", root.start()) + 1 if root else 0
    first = spans[0][0] if spans else len(data)
    channel = _CHANNEL_TAG.search(data, head_end, first)
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    context = b"\x00".join(
        (
            content_type.encode("utf-8", "replace"),
            base_url.encode("utf-8", "replace"),
            data[:head_end],
            channel.group() if channel else b"",
        )
    )
    key = hashlib.blake2b(context, digest_size=32).digest()
    view = memoryview(data)
    return [
        int.from_bytes(hashlib.blake2b(view[start:end], digest_size=8, key=key).digest())
        for start, end in spans
    ]


def keeping(data: bytes, spans: Sequence[tuple[int, int]], kept: Sequence[int]) -> bytes:
    """The document with only the items at `kept` (indexes into `spans`) left in it."""
    keep = set(kept)
    parts: list[bytes] = []
    at = 0
    for i, (start, end) in enumerate(spans):
        if i not in keep:
            parts.append(data[at:start])
            at = end
    parts.append(data[at:])
    return b"".join(parts)
