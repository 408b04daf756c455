"""Storage: the `Store` protocol (base), the reference in-memory backend, SQLite."""

from monitor.store.base import ClusterSummary, DueFeed, FeedStatus, PollRecord, Store

__all__ = ["ClusterSummary", "DueFeed", "FeedStatus", "PollRecord", "Store"]
