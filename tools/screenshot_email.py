"""Render the founding article's alert email and a digest email and, when Chromium is
installed, screenshot them.

    python tools/screenshot_email.py [OUT_DIR]

Writes founding-email.html and founding-email.txt, and digest-email.html: the founding
article with the Libya stories of Aug-Sep 2023 from ../shared/corpus/headlines-2023 that
the bundled rules match (when the corpus is there); with Chromium, a PNG of each, so a
person can look at what the desk receives. The test suite never needs Chromium: it
checks the same HTML's structure instead (tests/test_render_email.py).
"""

from __future__ import annotations

import json
import lzma
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from monitor.config import load_config
from monitor.delivery.digest import render_digest
from monitor.delivery.render import render
from monitor.feeds.parse import parse_feed
from monitor.models import Alert, Story
from monitor.rules import Matcher
from monitor.text import html_to_text

ROOT = Path(__file__).resolve().parent.parent


def founding_alert() -> Alert:
    """The founding article (seeds/founding-article.rss) as the bundled rules alert it."""
    config = load_config(ROOT / "config", env={})
    data = (ROOT / "seeds" / "founding-article.rss").read_bytes()
    parsed = parse_feed(data, feed="alaraby")
    story = parsed.stories[0]
    matches = tuple(Matcher(config.rules).match(story))
    return Alert(id=1, channel="email", outlet=parsed.title, story=story, matches=matches)


def corpus_alerts(limit: int = 8) -> list[Alert]:
    """Up to `limit` stories from the 2023 headlines that the bundled rules match."""
    items = ROOT.parent / "shared" / "corpus" / "headlines-2023" / "items.jsonl.xz"
    if not items.exists():
        return []
    matcher = Matcher(load_config(ROOT / "config", env={}).rules)
    found: list[Alert] = []
    with lzma.open(items, "rt", encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            story = Story(
                feed=item["outlet"],
                guid=item.get("link") or item["title"],
                link=item.get("link") or "",
                title=item["title"],
                summary=html_to_text(item.get("summary") or ""),
                published=datetime.fromisoformat(item["published"]),
            )
            matches = tuple(matcher.match(story))
            if matches:
                found.append(Alert(len(found) + 2, "email", story, item["outlet"], matches))
            if len(found) >= limit:
                break
    return found


def screenshot(page: Path, height: int = 1200) -> Path | None:
    """A PNG of `page` from headless Chromium, or None when it is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    png = page.with_suffix(".png")
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--screenshot={png}",
            f"--window-size=900,{height}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return png


def main(out: Path) -> int:
    alert = founding_alert()
    published = alert.story.published
    now = published + timedelta(hours=3, minutes=20) if published else None
    message = render(alert, "email", now=now, timezone="Europe/London")
    out.mkdir(parents=True, exist_ok=True)
    page, text = out / "founding-email.html", out / "founding-email.txt"
    page.write_text(message.body, encoding="utf-8")
    text.write_text(f"Subject: {message.title}\n\n{message.text}", encoding="utf-8")
    print(f"subject: {message.title}\nwrote {page} and {text}")
    alerts = [alert, *corpus_alerts()]
    digest = render_digest(alerts, "email", channel="desk-email", now=now, timezone="Europe/London")
    digest_page = out / "digest-email.html"
    digest_page.write_text(digest.body, encoding="utf-8")
    print(f"digest: {digest.title}\nwrote {digest_page}")
    for written in (page, digest_page):
        png = screenshot(written)
        print(f"wrote {png}" if png else "no chromium: no screenshot (apt-get install chromium)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build")))
