"""monitor: a news-monitoring alert daemon. See ARCHITECTURE.md for the pipeline."""
