"""Storage: the `Store` protocol (base), the reference in-memory backend, SQLite."""

from monitor.store.base import DueFeed, FeedStatus, PollRecord, Store

__all__ = ["DueFeed", "FeedStatus", "PollRecord", "Store"]
