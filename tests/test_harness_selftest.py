"""Self-tests of the browser/validator harness (tests/browser_support.py).

They prove each checker really *detects* problems (a broken input must produce
findings) and stays quiet on a correct input, so a green run of the real tests
means something. Missing tools skip these tests locally and fail them under CI.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

try:  # `tests` importable (package, or namespace package with the repo root on sys.path)
    from tests import browser_support as bs
except ImportError:  # pragma: no cover - pytest put tests/ itself on sys.path
    bs = importlib.import_module("browser_support")

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# A strict policy like the application's: no inline script, no eval.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'"
)

PIXEL_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'

# `data-inline` is set only if the inline script runs, i.e. only if the CSP is NOT enforced.
INLINE_PROBE = "<script>document.documentElement.dataset.inline = 'ran';</script>"

INACCESSIBLE_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Broken page</title></head>
<body>
<main>
<h1>Search</h1>
<img src="/pixel.svg">
<form action="/search" method="get"><input type="text" name="q"><button type="submit">Go</button></form>
</main>
{INLINE_PROBE}
</body>
</html>
"""

ACCESSIBLE_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Good page</title></head>
<body>
<main>
<h1>Search</h1>
<img src="/pixel.svg" alt="Black square">
<form action="/search" method="get">
<label for="q">Search terms</label> <input type="text" id="q" name="q"><button type="submit">Go</button>
</form>
</main>
{INLINE_PROBE}
</body>
</html>
"""




@pytest.fixture(scope="module")
def site() -> Iterator[bs.StaticServer]:
    pages: dict[str, tuple[str | bytes, str]] = {
        "/bad.html": (INACCESSIBLE_PAGE, "text/html; charset=utf-8"),
        "/good.html": (ACCESSIBLE_PAGE, "text/html; charset=utf-8"),
        "/pixel.svg": (PIXEL_SVG, "image/svg+xml"),
    }
    with bs.StaticServer(pages, headers={"Content-Security-Policy": STRICT_CSP}) as server:
        yield server


# --------------------------------------------------------------------------- (a) axe


def test_axe_reports_missing_alt_and_label_under_strict_csp(browser: Browser, site: bs.StaticServer) -> None:
    with bs.new_page(browser) as page:
        response = page.goto(site.url("/bad.html"))
        assert response is not None and response.status == 200
        # The page's CSP is really enforced (not bypassed), yet axe can run.
        assert page.evaluate("() => document.documentElement.dataset.inline") is None
        violations = bs.run_axe(page)
    ids = {v["id"] for v in violations}
    assert {"image-alt", "label"} <= ids, bs.format_violations(violations)
    image_alt = next(v for v in violations if v["id"] == "image-alt")
    assert image_alt["impact"] == "critical"
    assert image_alt["nodes"][0]["target"] == ["img"]
    text = bs.format_violations(violations)
    assert "image-alt" in text and "label" in text and "at img" in text


def test_axe_passes_accessible_page(browser: Browser, site: bs.StaticServer) -> None:
    with bs.new_page(browser) as page:
        page.goto(site.url("/good.html"))
        assert page.evaluate("() => document.documentElement.dataset.inline") is None
        violations = bs.run_axe(page)
        # A second run on the same page reuses the injected axe.
        assert bs.run_axe(page, rules={"image-alt": False}) == violations
    assert violations == [], bs.format_violations(violations)


def test_axe_include_and_rule_switches(browser: Browser, site: bs.StaticServer) -> None:
    with bs.new_page(browser) as page:
        page.goto(site.url("/bad.html"))
        only_form = {v["id"] for v in bs.run_axe(page, include="form")}
        without_alt = {v["id"] for v in bs.run_axe(page, rules={"image-alt": False})}
    assert "label" in only_form and "image-alt" not in only_form
    assert "image-alt" not in without_alt and "label" in without_alt


def test_format_violations_empty() -> None:
    assert bs.format_violations([]) == "no axe violations"


# --------------------------------------------------------------------------- (b) vnu

VALID_DOC = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Valid</title></head>
<body><main><h1>Valid</h1><p id="one">One</p><p id="two">Two</p></main></body>
</html>
"""

INVALID_DOC = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"></head>
<body><main><p id="dup">One</p><p id="dup">Two</p><div><span>unclosed</main></body>
</html>
"""

# Valid, but vnu warns about a <section> without a heading.
WARNING_DOC = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Warn</title></head>
<body><main><h1>Warn</h1><section><p>No heading here</p></section></main></body>
</html>
"""


def test_validate_html_flags_invalid_and_passes_valid() -> None:
    names = {"/valid": VALID_DOC, "/invalid?page=2": INVALID_DOC, "/warning": WARNING_DOC}
    results = bs.validate_html(names)
    assert set(results) == set(names)
    assert results["/valid"] == []
    assert results["/warning"] == []  # warnings are opt-in
    errors = "\n".join(results["/invalid?page=2"])
    assert "Duplicate ID" in errors, errors
    assert "title" in errors, errors  # head is missing its required <title>
    assert all(m.startswith("error") for m in results["/invalid?page=2"]), errors


def test_validate_html_warnings_opt_in_and_ignore() -> None:
    results = bs.validate_html(
        {"/warning": WARNING_DOC, "/invalid": INVALID_DOC}, include_warnings=True, ignore=[r"^Duplicate ID"]
    )
    assert any(m.startswith("warning") and "heading" in m for m in results["/warning"]), results
    assert not any("Duplicate ID" in m for m in results["/invalid"]), results
    assert results["/invalid"], "the missing <title> error must still be reported"


def test_validate_html_empty_input() -> None:
    assert bs.validate_html({}) == {}


# --------------------------------------------------------------------------- (c) feeds

RSS_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Lab News</title>
  <link>https://lab.example.org/</link>
  <description>News from the lab</description>
  <language>en</language>
  <item>
    <title>Paper &amp; results: Ångström-scale imaging</title>
    <link>https://lab.example.org/posts/1</link>
    <guid isPermaLink="false">lab-post-1</guid>
    <pubDate>Tue, 02 Jan 2024 03:04:05 +0100</pubDate>
    <description>&lt;p&gt;Short &lt;b&gt;summary&lt;/b&gt;&lt;/p&gt;</description>
    <content:encoded><![CDATA[<p>Full text</p>]]></content:encoded>
    <category>physics</category>
  </item>
  <item>
    <title>Second</title>
    <link>https://lab.example.org/posts/2</link>
    <guid>https://lab.example.org/posts/2</guid>
  </item>
</channel>
</rss>
"""

ATOM_DOC = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Preprints</title>
  <link href="https://preprints.example.org/"/>
  <link rel="self" href="https://preprints.example.org/atom.xml"/>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-03-01T10:00:00Z</updated>
  <entry>
    <title>On feeds</title>
    <link href="https://preprints.example.org/p/42"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <published>2024-02-29T23:30:00-02:00</published>
    <updated>2024-03-01T09:00:00Z</updated>
    <summary>A summary</summary>
    <content type="html">&lt;p&gt;Body&lt;/p&gt;</content>
    <author><name>Ada</name><email>ada@example.org</email></author>
  </entry>
</feed>
"""


def test_parse_rss2_with_node() -> None:
    feed = bs.parse_feed_with_node(RSS_DOC)
    assert feed["format"] == "rss"
    assert feed["title"] == "Lab News"
    assert feed["link"] == "https://lab.example.org/"
    assert feed["language"] == "en"
    assert [i["id"] for i in feed["items"]] == ["lab-post-1", "https://lab.example.org/posts/2"]
    first = feed["items"][0]
    assert first["title"] == "Paper & results: Ångström-scale imaging"
    assert first["link"] == "https://lab.example.org/posts/1"
    assert first["published"] == "2024-01-02T02:04:05.000Z"  # normalised to UTC
    assert first["description"] == "<p>Short <b>summary</b></p>"
    assert first["content"] == "<p>Full text</p>"
    assert first["categories"] == ["physics"]
    assert feed["items"][1]["published"] is None


def test_parse_atom_with_node_from_bytes() -> None:
    feed = bs.parse_feed_with_node(ATOM_DOC.encode("utf-8"))
    assert feed["format"] == "atom"
    assert feed["title"] == "Preprints"
    assert feed["self"] == "https://preprints.example.org/atom.xml"
    (entry,) = feed["items"]
    assert entry["title"] == "On feeds"
    assert entry["link"] == "https://preprints.example.org/p/42"
    assert entry["id"] == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert entry["published"] == "2024-03-01T01:30:00.000Z"
    assert entry["updated"] == "2024-03-01T09:00:00.000Z"
    assert entry["description"] == "A summary"
    assert entry["content"] == "<p>Body</p>"
    assert entry["authors"][0]["name"] == "Ada"


def test_parse_feed_with_node_rejects_non_feed() -> None:
    with pytest.raises(bs.FeedParseError):
        bs.parse_feed_with_node("<html><body>not a feed</body></html>")


# --------------------------------------------------------------------------- policy


def test_missing_tool_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert bs.in_ci()
    with pytest.raises(pytest.fail.Exception):
        bs.skip_or_fail("tool missing")
    monkeypatch.setenv("CI", "")
    assert not bs.in_ci()
    with pytest.raises(pytest.skip.Exception):
        bs.skip_or_fail("tool missing")


def test_chromium_path_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM_PATH", "/nonexistent/chromium")
    assert bs.chromium_path() is None


def test_node_dependencies_are_pinned_exactly() -> None:
    package = json.loads((bs.REPO_ROOT / "package.json").read_text(encoding="utf-8"))
    assert package.get("private") is True
    deps = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    assert {"axe-core", "vnu-jar", "@rowanmanning/feed-parser"} <= set(deps)
    loose = {name: spec for name, spec in deps.items() if not spec[:1].isdigit()}
    assert loose == {}, f"pin exact versions in package.json: {loose}"
    lock = json.loads((bs.REPO_ROOT / "package-lock.json").read_text(encoding="utf-8"))
    for name, spec in deps.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == spec, f"package-lock.json out of date for {name}"
