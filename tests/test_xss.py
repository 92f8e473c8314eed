"""Nothing from a feed runs: XSS vectors (tests/data/hostile/xss_vectors.json, from the OWASP filter-evasion cheat
sheet) in the titles, summaries, content and links of a feed whose items match ``car-t-ms``, polled for real and
then shown by the service: the web page in a real Chromium, the RSS and Atom output, and the digest email.

The browser checks run twice: with the site's Content-Security-Policy, and with CSP bypassed, which proves that
sanitising alone keeps the content inert (the CSP is the second wall, not the only one). The feed and email output
is also rendered by Chromium the way a naive reader would (everything inserted as HTML, scripts enabled, no CSP).
"""

from __future__ import annotations

import json
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from flask import Flask
from sqlalchemy import func, select

from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.models import Item, ItemTopic
from aggregator.poll.clean import ALLOWED_TAGS
from tests import browser_support
from tests import fault_server as fs
from tests.conftest import make_app, write_feeds_file

VECTORS = json.loads((Path(__file__).parent / "data" / "hostile" / "xss_vectors.json").read_text(encoding="utf-8"))
TOPIC = "car-t-ms"
MARK = "XSSCASE"
_UNSAFE_URL = re.compile(r"^\s*(javascript|vbscript|data):", re.IGNORECASE)
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "background", "poster", "xlink:href", "srcdoc"}
# Never acceptable anywhere in what we send, even in our own email templates.
_FORBIDDEN_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "form", "svg", "math", "base",
                   "input", "button", "video", "audio", "details", "marquee", "template", "applet", "img", "link"}


def html_problems(markup: str, allowed: set[str] | None = None, allow_style: bool = False) -> list[str]:
    """What an HTML parser finds in ``markup`` that could run or load something: forbidden (or, with ``allowed``,
    any non-allow-listed) elements, event handlers, inline styles, and script or data URLs."""
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)  # a title may look like a URL
        soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(True):
        name = tag.name.lower()
        if name in _FORBIDDEN_TAGS or (allowed is not None and name not in allowed):
            problems.append(f"<{name}>")
        for attribute, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            if attribute.lower().startswith("on"):
                problems.append(f"<{name} {attribute}>")
            if attribute.lower() == "style" and not allow_style:
                problems.append(f"<{name} style>")
            if attribute.lower() in _URL_ATTRIBUTES and _UNSAFE_URL.match(re.sub(r"[\s\x00-\x1f]", "", text)):
                problems.append(f"<{name} {attribute}={text}>")
    return problems


def hostile_items() -> list[fs.FeedItem]:
    items = []
    published = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    for n, vector in enumerate(VECTORS["html"]):
        link = VECTORS["links"][n % len(VECTORS["links"])] if n % 3 == 0 else f"http://example.org/xss/{n}"
        items.append(fs.FeedItem(
            title=f"{MARK}{n:03d} CAR T-cell therapy in multiple sclerosis {vector}",
            link=link,
            guid=f"xss-{n}",
            summary=f"Chimeric antigen receptor T cells for multiple sclerosis, case {n}. {vector}",
            content=f"<p>CAR-T in MS.</p>{vector}",
            published=published,
        ))
    return items


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, int]]:
    tmp = tmp_path_factory.mktemp("xss")
    with fs.FaultServer() as server:
        url = server.add("/xss.xml", fs.ok(fs.rss(hostile_items(), title="<script>alert('feed title')</script>")))
        feeds = write_feeds_file(tmp / "feeds.yaml", [{"id": "xss", "name": "XSS <b>source</b>", "url": url}])
        app = make_app(f"sqlite:///{tmp / 'xss.db'}", feeds, page_size=500, feed_size=500)
        reports = build_poller(app).poll_many(["xss"])
        assert reports[0].outcome == "ok" and reports[0].new == len(VECTORS["html"]), reports
    with get_database(app).session_scope() as session:
        matched = session.scalar(select(func.count(ItemTopic.item_id)).where(ItemTopic.topic_id == TOPIC)) or 0
    # Every hostile item must reach the page, or the browser test would prove nothing.
    assert matched == len(VECTORS["html"]), f"only {matched} items matched {TOPIC}"
    yield app, matched
    get_database(app).dispose()


# ---------------------------------------------------------------------------------------------------- storage


def test_stored_items_hold_only_inert_text_and_allow_listed_html(hostile_site: tuple[Flask, int]) -> None:
    app, _ = hostile_site
    with get_database(app).session_scope() as session:
        items = list(session.scalars(select(Item)))
    for item in items:
        assert html_problems(item.summary_html, allowed=ALLOWED_TAGS) == [], item.summary_html
        assert html_problems(item.title, allowed=set()) == [], item.title  # a title is text, even parsed as HTML
        assert item.link is None or item.link.startswith(("http://", "https://")), item.link
        assert item.link is None or not re.search(r"[\s\"'<>`]", item.link), item.link
        for anchor in re.findall(r"<a\b[^>]*>", item.summary_html):
            assert 'rel="noopener noreferrer nofollow"' in anchor, anchor


# ---------------------------------------------------------------------------------------------------- browser




_DOM_PROBLEMS = """
() => {
  const bad = [];
  const urlAttrs = ['href', 'src', 'action', 'formaction', 'data', 'background', 'poster', 'xlink:href', 'srcdoc'];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      const value = a.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
      if (name.startsWith('on')) bad.push(`${el.tagName} has ${name}`);
      if (urlAttrs.includes(name) && /^(javascript|vbscript|data):/.test(value)) {
        bad.push(`${el.tagName} ${name}=${value}`);
      }
    }
    const tag = el.tagName.toLowerCase();
    if (['iframe', 'frame', 'frameset', 'object', 'embed', 'base', 'applet'].includes(tag)) bad.push(`<${tag}>`);
    if (tag === 'script' && !(el.src || '').startsWith(location.origin + '/static/')) bad.push('foreign <script>');
    if ((tag === 'img' || tag === 'video' || tag === 'audio' || tag === 'source') && el.src
        && !el.src.startsWith(location.origin)) bad.push(`remote <${tag}> ${el.src}`);
    if (tag === 'meta' && el.httpEquiv) bad.push(`<meta http-equiv=${el.httpEquiv}>`);
  }
  return bad;
}
"""


class Watch:
    """Everything a page does that would show a feed's script ran."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", lambda message: self.console.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_nothing_ran(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert not [m for m in self.console if "XSS" in m], self.console
        assert self.errors == [], self.errors


def _exercise(page: Any) -> None:
    """Give injected code every chance: wait for timers, hover and focus every element of the content."""
    page.wait_for_timeout(200)
    page.evaluate("""() => { for (const el of document.querySelectorAll('main *, body > *')) {
        for (const type of ['mouseover', 'mouseenter', 'focus', 'toggle', 'animationstart']) {
            el.dispatchEvent(new Event(type)); } } }""")
    page.wait_for_timeout(100)


@pytest.mark.browser
@pytest.mark.parametrize("csp", ["enforced", "bypassed"])
def test_page_in_chromium_runs_nothing_from_the_feed(csp: str, hostile_site: tuple[Flask, int],
                                                     browser: Any) -> None:
    app, matched = hostile_site
    with browser_support.serve_wsgi(app) as base_url, \
            browser_support.new_page(browser, bypass_csp=csp == "bypassed") as page:
        watch = Watch(page)
        page.goto(f"{base_url}/?topic={TOPIC}")
        _exercise(page)
        watch.assert_nothing_ran()
        assert page.evaluate(_DOM_PROBLEMS) == []
        body = page.inner_text("body")
        shown = set(re.findall(rf"{MARK}\d{{3}}", body))
        assert len(shown) == matched  # every hostile item was really on the page
        if csp == "enforced":  # and the sanitiser left nothing for the CSP to block
            assert not [m for m in watch.console if "Content Security Policy" in m], watch.console


def _feed_strings(xml: bytes) -> tuple[list[str], list[str]]:
    """(text of every element, every URL attribute) of an RSS or Atom document, as a reader's parser sees them."""
    root = ET.fromstring(xml)
    texts = [el.text for el in root.iter() if el.text]
    urls = [value for el in root.iter() for key, value in el.attrib.items() if key in {"href", "src", "url"}]
    urls += [el.text for el in root.iter() if el.tag.rsplit("}", 1)[-1] in {"link", "comments"} and el.text]
    return texts, urls


@pytest.mark.parametrize("path", ["/feed.xml", "/feed.atom"])
def test_rss_and_atom_carry_no_script_and_no_javascript_urls(path: str, hostile_site: tuple[Flask, int]) -> None:
    app, matched = hostile_site
    response = app.test_client().get(f"{path}?topic={TOPIC}")
    assert response.status_code == 200
    texts, urls = _feed_strings(response.data)
    assert sum(MARK in text for text in texts) >= matched
    for text in texts:  # titles and summaries, even if a reader took every one of them for HTML
        assert html_problems(text, allowed=ALLOWED_TAGS) == [], text
    for url in urls:
        assert not _UNSAFE_URL.match(url) and not re.search(r"[\s\"'<>`]", url), url


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/feed.xml", "/feed.atom"])
def test_feed_content_is_inert_even_in_a_naive_reader(path: str, hostile_site: tuple[Flask, int],
                                                      browser: Any) -> None:
    """A careless feed reader inserts titles and summaries as HTML and links as hrefs: still nothing runs."""
    app, _ = hostile_site
    texts, urls = _feed_strings(app.test_client().get(f"{path}?topic={TOPIC}").data)
    document = "<!doctype html><html><body><main>" + "".join(f"<div>{t}</div>" for t in texts) + "".join(
        f'<a href="{u}">link</a>' for u in urls) + "</main></body></html>"
    with browser_support.new_page(browser) as page:
        watch = Watch(page)
        page.set_content(document)
        _exercise(page)
        watch.assert_nothing_ran()
        problems = [p for p in page.evaluate(_DOM_PROBLEMS) if not p.startswith("remote")]
        assert problems == []


# ---------------------------------------------------------------------------------------------------- email


def _digest_email(app: Flask) -> Any:
    from aggregator.db import get_database as database_of
    from aggregator.mail import digest
    from aggregator.store import mail as store_mail

    services = app.extensions["aggregator"]
    with database_of(app).session_scope() as session:
        # The week the fixture's poll stored the items in (not today's: the fixture may have run last week).
        seen = session.scalar(select(func.max(Item.first_seen_at)))
        assert seen is not None
        start, end = digest.week_of(seen).bounds()
        items = store_mail.items_first_seen_between(session, start, end)
    built = digest.build(digest.week_of(seen), items, [TOPIC], services.topic_names)
    links = digest.Links(site="http://aggregator.test/", rss="http://aggregator.test/feed.xml",
                         week_page="http://aggregator.test/digest", subscribe="http://aggregator.test/subscribe")
    return digest.render(built, links)


def test_digest_email_carries_no_script_and_no_javascript_urls(hostile_site: tuple[Flask, int]) -> None:
    app, matched = hostile_site
    rendered = _digest_email(app)
    assert rendered.count == matched
    assert rendered.html.count(MARK) >= matched
    assert html_problems(rendered.html, allow_style=True) == []  # the templates' inline styles are the only ones
    assert rendered.text.count(MARK) >= matched  # the text part is text/plain: shown, never run


@pytest.mark.browser
def test_digest_email_runs_nothing_in_chromium(hostile_site: tuple[Flask, int], browser: Any) -> None:
    """The email HTML in a browser with scripts on and no CSP: a webmail that sanitises nothing is still safe."""
    app, _ = hostile_site
    with browser_support.new_page(browser) as page:
        watch = Watch(page)
        page.set_content(_digest_email(app).html)
        _exercise(page)
        watch.assert_nothing_ran()
        assert page.evaluate(_DOM_PROBLEMS) == []


# ---------------------------------------------------------------------------------------------------- headers


@pytest.mark.parametrize("path", ["/", "/sources", "/feed.xml", "/feed.atom", "/?topic=nope", "/no-such-page",
                                  "/static/style.css"])
def test_security_headers_on_every_answer(path: str, hostile_site: tuple[Flask, int]) -> None:
    app, _ = hostile_site
    response = app.test_client().get(path)
    response.close()  # static files are streamed from an open file
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives.get("default-src") == ["'none'"], csp
    assert directives.get("script-src") == ["'self'"], csp  # no inline script, no eval, no other origin
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives.get("frame-ancestors") == ["'none'"] and directives.get("base-uri") == ["'none'"]
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("Referrer-Policy") in {"no-referrer", "strict-origin-when-cross-origin",
                                                       "same-origin", "strict-origin"}
