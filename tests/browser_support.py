"""Test-harness helpers: headless Chromium, axe-core, the Nu HTML Checker, and an
independent (Node) feed parser.

Everything here is importable from pytest tests (``from tests.browser_support
import ...`` or ``from browser_support import ...`` depending on rootdir/conftest
setup) and has no side effects at import time.

External tools and where they come from (installed by ``.ci/run``):

* Chromium: Debian package ``chromium`` -> ``/usr/bin/chromium`` (override with the
  ``CHROMIUM_PATH`` environment variable). Driven by the Python ``playwright``
  package with ``executable_path`` -- never ``playwright install``, which downloads
  a browser and fails on this closed network.
* axe-core, vnu.jar (needs ``java``), @rowanmanning/feed-parser: ``npm ci`` into
  ``<repo>/node_modules`` from the committed ``package-lock.json``.

Missing-tool policy (:func:`skip_or_fail`): when a tool is missing the calling test
is *skipped* with a message saying how to install it, except when the environment
variable ``CI`` is set (to anything but ``""``/``0``/``false``), where it *fails*, so
CI can never go green by silently skipping the browser/validator tests.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Self

import pytest

if TYPE_CHECKING:  # pragma: no cover - typing only
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

__all__ = [
    "AXE_JS",
    "CHROMIUM_ARGS",
    "FEED_SCRIPT",
    "NODE_MODULES",
    "REPO_ROOT",
    "VNU_JAR",
    "WCAG_TAGS",
    "FeedParseError",
    "StaticServer",
    "chromium_path",
    "format_violations",
    "in_ci",
    "launch_chromium",
    "new_page",
    "open_chromium",
    "parse_feed_with_node",
    "run_axe",
    "serve_wsgi",
    "skip_or_fail",
    "validate_html",
]

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
NODE_MODULES: Path = REPO_ROOT / "node_modules"
AXE_JS: Path = NODE_MODULES / "axe-core" / "axe.min.js"
VNU_JAR: Path = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
FEED_SCRIPT: Path = REPO_ROOT / "tests" / "js" / "parse_feed.mjs"
FEED_PARSER_PKG: Path = NODE_MODULES / "@rowanmanning" / "feed-parser" / "package.json"

#: Flags for Chromium on this closed network: without the background-networking
#: flags Chromium keeps opening connections that the sandbox refuses.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: axe-core rule tags: WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS: tuple[str, ...] = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

_INSTALL_HINT_NODE = "run `npm ci --ignore-scripts` in the repository root (or `bash .ci/run`)"
_INSTALL_HINT_APT = "apt-get install -y --no-install-recommends chromium default-jre-headless"


# --------------------------------------------------------------------------- policy


def in_ci() -> bool:
    """True when running under CI (env ``CI`` set and not ``""``, ``0`` or ``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test with ``reason``; under CI (:func:`in_ci`) fail it instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so a missing test tool is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- chromium


def chromium_path() -> str | None:
    """Path of a Chromium executable (``$CHROMIUM_PATH``, ``/usr/bin/chromium``, or on PATH), else None."""
    override = os.environ.get("CHROMIUM_PATH")
    if override:
        return override if os.access(override, os.X_OK) else None
    candidates = ["/usr/bin/chromium"]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def launch_chromium(playwright: Playwright, **launch_kwargs: Any) -> Browser:
    """Launch headless system Chromium via Playwright with :data:`CHROMIUM_ARGS`.

    Skips the calling test (fails under CI) when no Chromium is installed.
    Extra keyword arguments go to ``playwright.chromium.launch``; ``args`` given
    there are appended to :data:`CHROMIUM_ARGS`.
    """
    path = chromium_path()
    if path is None:
        skip_or_fail(f"Chromium not found (set CHROMIUM_PATH or `{_INSTALL_HINT_APT}`)")
    extra_args = list(launch_kwargs.pop("args", []))
    launch_kwargs.setdefault("timeout", 30_000)
    return playwright.chromium.launch(
        executable_path=path,
        headless=True,
        args=[*CHROMIUM_ARGS, *extra_args],
        **launch_kwargs,
    )


@contextlib.contextmanager
def open_chromium(**launch_kwargs: Any) -> Iterator[Browser]:
    """Context manager: start Playwright (sync API), launch Chromium, yield the Browser, close both.

    Good for a session- or module-scoped pytest fixture::

        @pytest.fixture(scope="session")
        def browser():
            with open_chromium() as b:
                yield b

    Only one sync Playwright may run per thread at a time, so share one browser
    per session rather than opening one per test.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the venv
        skip_or_fail("Python package `playwright` is not installed (pip install playwright)")
    if chromium_path() is None:
        skip_or_fail(f"Chromium not found (set CHROMIUM_PATH or `{_INSTALL_HINT_APT}`)")
    with sync_playwright() as pw:
        browser = launch_chromium(pw, **launch_kwargs)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def new_page(browser: Browser, **context_kwargs: Any) -> Iterator[Page]:
    """Context manager: a fresh BrowserContext + Page (closed afterwards).

    The page keeps the application's Content-Security-Policy in force (no
    ``bypass_csp``), so CSP violations still show up; :func:`run_axe` does not
    need CSP to be bypassed. Keyword arguments go to ``browser.new_context``
    (e.g. ``viewport={"width": 375, "height": 800}``, ``java_script_enabled=False``).
    """
    context: BrowserContext = browser.new_context(**context_kwargs)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
    finally:
        context.close()


# --------------------------------------------------------------------------- axe


def _inject_axe(page: Page) -> None:
    """Make ``window.axe`` available in ``page``'s main frame, despite a strict CSP.

    ``page.add_script_tag`` adds an inline ``<script>``, which a CSP without
    ``'unsafe-inline'`` blocks. Instead the axe source is evaluated through
    Playwright's ``page.evaluate`` (the DevTools protocol), which Chromium does not
    subject to the page's CSP -- the page's own policy stays in force for
    everything else. (``browser.new_context(bypass_csp=True)`` would also work,
    but would hide CSP violations from every other check on that page.)
    """
    if page.evaluate("() => typeof window.axe !== 'undefined'"):
        return
    if not AXE_JS.is_file():
        skip_or_fail(f"axe-core not found at {AXE_JS} ({_INSTALL_HINT_NODE})")
    source = AXE_JS.read_text(encoding="utf-8")
    # Evaluated as a global script; the trailing `void 0` keeps the completion value
    # serialisable (and never a function that Playwright would try to call).
    page.evaluate(source + "\n;void 0;")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        raise RuntimeError(
            "axe-core could not be injected into the page; "
            "create the context with browser.new_context(bypass_csp=True) and retry"
        )


def run_axe(
    page: Page,
    *,
    tags: Iterable[str] = WCAG_TAGS,
    include: str | list[str] | None = None,
    exclude: str | list[str] | None = None,
    rules: Mapping[str, bool] | None = None,
) -> list[dict[str, Any]]:
    """Run axe-core on the page's current document; return the violations (``[]`` if none).

    Only rules tagged with ``tags`` run (default: WCAG 2.0/2.1 A and AA).
    ``include``/``exclude`` are CSS selectors limiting the checked part of the page;
    ``rules`` enables/disables single rules (``{"color-contrast": False}``).
    Each violation is a plain dict: ``id``, ``impact``, ``help``, ``helpUrl``,
    ``description``, ``tags`` and ``nodes`` (each ``{"target", "html",
    "failureSummary"}``), sorted by id. Use
    ``assert violations == [], format_violations(violations)``.
    Works with a strict Content-Security-Policy (see :func:`_inject_axe`).
    """
    _inject_axe(page)
    context: dict[str, Any] | None = None
    if include is not None or exclude is not None:
        context = {}
        if include is not None:
            context["include"] = [include] if isinstance(include, str) else list(include)
        if exclude is not None:
            context["exclude"] = [exclude] if isinstance(exclude, str) else list(exclude)
    options: dict[str, Any] = {
        "runOnly": {"type": "tag", "values": list(tags)},
        "resultTypes": ["violations"],
    }
    if rules:
        options["rules"] = {rule_id: {"enabled": bool(on)} for rule_id, on in rules.items()}
    raw: list[dict[str, Any]] = page.evaluate(
        """async ([context, options]) => {
            const results = await window.axe.run(context ?? document, options);
            return results.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                helpUrl: v.helpUrl,
                description: v.description,
                tags: v.tags,
                nodes: v.nodes.map((n) => ({
                    target: n.target,
                    html: n.html,
                    failureSummary: n.failureSummary,
                })),
            }));
        }""",
        [context, options],
    )
    return sorted(raw, key=lambda v: v["id"])


def format_violations(violations: list[dict[str, Any]]) -> str:
    """Human-readable multi-line summary of :func:`run_axe` violations (``"no violations"`` if empty)."""
    if not violations:
        return "no axe violations"
    lines = [f"{len(violations)} axe violation(s):"]
    for v in violations:
        lines.append(f"- [{v.get('impact') or '?'}] {v['id']}: {v.get('help', '')} ({v.get('helpUrl', '')})")
        for node in v.get("nodes", []):
            target = " ".join(str(t) for t in node.get("target", []))
            html = (node.get("html") or "").replace("\n", " ")
            if len(html) > 160:
                html = html[:157] + "..."
            lines.append(f"    at {target}: {html}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- vnu


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def validate_html(
    documents: Mapping[str, str],
    *,
    include_warnings: bool = False,
    ignore: Iterable[str] = (),
    timeout: float = 180.0,
) -> dict[str, list[str]]:
    """Validate several HTML documents with the Nu HTML Checker in ONE JVM run.

    ``documents`` maps a name of your choice (e.g. the URL path) to the HTML text.
    Returns ``{name: [message, ...]}`` with every name present (empty list = valid).
    By default only errors are reported; ``include_warnings=True`` adds warnings.
    ``ignore`` holds regular expressions; messages whose text matches any are dropped.
    Each message reads ``"error line 3, col 5: Duplicate ID “a”. [<p id="a">]"``.

    The documents are checked as local ``.html`` files, i.e. without an HTTP
    ``Content-Type`` header: a page without ``<meta charset="utf-8">`` is reported
    for its missing encoding declaration. Language detection is off (short test
    pages confuse it). Skips (fails under CI) when ``java`` or vnu.jar is missing.
    """
    if not documents:
        return {}
    java = shutil.which("java")
    if java is None:
        skip_or_fail(f"`java` not found; the Nu HTML Checker needs Java 17+ (`{_INSTALL_HINT_APT}`)")
    if not VNU_JAR.is_file():
        skip_or_fail(f"vnu.jar not found at {VNU_JAR} ({_INSTALL_HINT_NODE})")
    ignore_res = [re.compile(p) for p in ignore]
    results: dict[str, list[str]] = {name: [] for name in documents}
    with tempfile.TemporaryDirectory(prefix="vnu-") as tmp:
        by_file: dict[str, str] = {}
        paths: list[str] = []
        for index, (name, html) in enumerate(documents.items()):
            stem = _SAFE_NAME.sub("_", name).strip("_")[:60] or "doc"
            filename = f"{index:04d}-{stem}.html"
            path = Path(tmp) / filename
            path.write_text(html, encoding="utf-8")
            by_file[filename] = name
            paths.append(str(path))
        cmd = [java, "-jar", str(VNU_JAR), "--format", "json", "--stdout", "--exit-zero-always", "--no-langdetect"]
        if not include_warnings:
            cmd.append("--errors-only")
        proc = subprocess.run(
            [*cmd, *paths], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"vnu.jar produced no JSON (exit {proc.returncode}).\nstdout: {proc.stdout[-2000:]}\n"
            f"stderr: {proc.stderr[-2000:]}"
        ) from exc
    for msg in report.get("messages", []):
        kind = msg.get("type")
        sub = msg.get("subType")
        if kind == "non-document-error":
            raise RuntimeError(f"vnu.jar could not check a document: {msg}")
        if kind == "error":
            label = "fatal" if sub == "fatal" else "error"
        elif kind == "info" and sub == "warning":
            if not include_warnings:
                continue
            label = "warning"
        else:  # plain info messages
            continue
        text = msg.get("message", "")
        if any(r.search(text) for r in ignore_res):
            continue
        url = msg.get("url", "")
        doc_name = by_file.get(url.rsplit("/", 1)[-1])
        if doc_name is None:
            raise RuntimeError(f"vnu.jar reported on an unknown document {url!r}: {msg}")
        line = msg.get("lastLine", msg.get("firstLine"))
        col = msg.get("firstColumn", msg.get("lastColumn"))
        where = f" line {line}, col {col}" if line is not None else ""
        extract = (msg.get("extract") or "").replace("\n", " ").strip()
        results[doc_name].append(f"{label}{where}: {text}" + (f" [{extract}]" if extract else ""))
    return results


# --------------------------------------------------------------------------- feeds


class FeedParseError(RuntimeError):
    """The independent Node parser could not read the document as RSS/Atom."""


def parse_feed_with_node(xml: str | bytes, *, timeout: float = 60.0) -> dict[str, Any]:
    """Parse an RSS/Atom document with @rowanmanning/feed-parser (Node) and return its JSON.

    Result keys: ``title``, ``link``, ``description``, ``language``, ``self``,
    ``published``, ``updated``, ``format`` (``"rss"``/``"atom"``), ``version`` and
    ``items`` -- each item with ``title``, ``link``, ``id``, ``published``,
    ``updated``, ``description``, ``content``, ``authors`` (``name/email/url``) and
    ``categories`` (labels). Dates are UTC ISO 8601 strings
    (``"2024-01-02T03:04:05.000Z"``) or None; missing values are None.
    Raises :class:`FeedParseError` for a document the parser rejects.
    Skips (fails under CI) when node or the npm packages are missing.
    """
    node = shutil.which("node")
    if node is None:
        skip_or_fail("`node` not found (Node 20+ is needed for the independent feed parser)")
    if not FEED_PARSER_PKG.is_file():
        skip_or_fail(f"@rowanmanning/feed-parser not installed ({_INSTALL_HINT_NODE})")
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    proc = subprocess.run(
        [node, str(FEED_SCRIPT)], input=data, capture_output=True, timeout=timeout, cwd=REPO_ROOT, check=False
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode == 2:
        try:
            detail = json.loads(stderr.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            detail = {"error": stderr}
        raise FeedParseError(f"{detail.get('error')} (code {detail.get('code')})")
    if proc.returncode != 0:
        raise RuntimeError(f"{FEED_SCRIPT.name} failed (exit {proc.returncode}): {stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# --------------------------------------------------------------------------- servers


@dataclass
class StaticServer:
    """A real ``http.server`` on 127.0.0.1 (ephemeral port) serving fixed pages from memory.

    ``pages`` maps a path (``"/a.html"``) to ``(body, content_type)``; ``headers``
    are added to every response (e.g. a Content-Security-Policy). Unknown paths
    give 404. Use as a context manager; ``url(path)`` builds an absolute URL.
    """

    pages: dict[str, tuple[str | bytes, str]]
    headers: dict[str, str] = field(default_factory=dict)
    _server: http.server.ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("StaticServer is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + path

    def __enter__(self) -> Self:
        pages, extra_headers = self.pages, self.headers

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                entry = pages.get(self.path.split("?", 1)[0])
                if entry is None:
                    self.send_error(404)
                    return
                body, content_type = entry
                payload = body.encode("utf-8") if isinstance(body, str) else body
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in extra_headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="StaticServer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app (e.g. the Flask app) on 127.0.0.1:<ephemeral> in a thread; yield its base URL.

    Uses Werkzeug's threaded server, so a browser can load a page and its assets in
    parallel. The server is shut down on exit.
    """
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="serve_wsgi", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# Desktop and a small phone: every page must pass axe and fit the screen at both.
VIEWPORTS = ({"width": 1280, "height": 900}, {"width": 375, "height": 740})


def assert_page_is_usable(browser: Browser, url: str, viewports: tuple[dict[str, int], ...] = VIEWPORTS) -> None:
    """Load ``url`` at each viewport and assert: no axe violation (WCAG 2.1 AA), no sideways scrolling, and no
    Content-Security-Policy refusal logged in the console."""
    for viewport in viewports:
        with new_page(browser, viewport=viewport) as page:
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            violations = run_axe(page)
            assert violations == [], f"{url} at {viewport['width']}px:\n" + format_violations(violations)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at {viewport['width']}px"
            refused = [e for e in errors if "Content Security Policy" in e or "Refused" in e]
            assert not refused, refused
