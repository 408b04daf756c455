"""Feeds: fetch (httpx, conditional GET, caps, deadline), guards (address policy, local
files), parse (bytes → stories), the polling policy (next poll, back-off, health), per-host
limits and the parser processes. Each module is imported by name; this one imports nothing,
so the store's protocol can use `policy.FeedHealth` without pulling in httpx."""
