"""Place sets for `@place` (a STAND-IN until the places branch lands: the two types only)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlaceNames:
    """A place set ready to match: its id and every usable name, as written."""

    id: str
    names: tuple[str, ...]


class PlaceError(ValueError):
    """A place set cannot be built (an ambiguous or unknown gazetteer name)."""
