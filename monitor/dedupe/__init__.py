"""Which items are the same: story identity (`identity`) and cross-outlet clustering of
different articles about one event (`cluster`). Pure code; the store applies it.

The names below are those other modules import from `monitor.dedupe`; the clustering API
is imported from `monitor.dedupe.cluster`.
"""

from monitor.dedupe.identity import (
    IdentityKey,
    KeyKind,
    canonical_link,
    identity_keys,
    is_amp_param,
    is_repeat,
    is_tracking_param,
    text_key,
)

__all__ = [
    "IdentityKey",
    "KeyKind",
    "canonical_link",
    "identity_keys",
    "is_amp_param",
    "is_repeat",
    "is_tracking_param",
    "text_key",
]
