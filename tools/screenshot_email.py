"""Render the founding article's alert email and, when Chromium is installed, screenshot it.

    python tools/screenshot_email.py [OUT_DIR]

Writes founding-email.html and founding-email.txt (and founding-email.png with Chromium)
so a person can look at what the desk receives. The test suite never needs Chromium: it
checks the same HTML's structure instead (tests/test_render_email.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from monitor.config import load_config
from monitor.delivery.render import render
from monitor.feeds.parse import parse_feed
from monitor.models import Alert
from monitor.rules import Matcher

ROOT = Path(__file__).resolve().parent.parent


def founding_alert() -> Alert:
    """The founding article (seeds/founding-article.rss) as the bundled rules alert it."""
    config = load_config(ROOT / "config", env={})
    data = (ROOT / "seeds" / "founding-article.rss").read_bytes()
    parsed = parse_feed(data, feed="alaraby")
    story = parsed.stories[0]
    matches = tuple(Matcher(config.rules).match(story))
    return Alert(id=1, channel="email", outlet=parsed.title, story=story, matches=matches)


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
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium on PATH: no screenshot (apt-get install chromium)")
        return 0
    png = out / "founding-email.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={png}",
            "--window-size=900,1200",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build")))
