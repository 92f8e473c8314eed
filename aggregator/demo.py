"""``make demo``: the whole service on a bundled demo corpus, offline.

Serves ``aggregator/demo_data/`` (fictional but realistic feeds in the formats our real sources use) from an HTTP
server on 127.0.0.1, writes a feeds file pointing at it (with the real topic rules from feeds.yaml), polls it into
its own SQLite database (``instance/demo.db``), then serves the site with the scheduler running, exactly as
``make run`` does. Nothing here is used by the real service.
"""

from __future__ import annotations

import argparse
import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .config import INSTANCE_DIR, PROJECT_ROOT

if TYPE_CHECKING:
    from .domain import PollReport
    from .poll.pipeline import Poller

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"

DEMO_SOURCES: list[dict[str, Any]] = [
    {"id": "demo-ms-news", "name": "MS Demo News (WordPress RSS)", "path": "ms-news.xml", "evidence_type": "news"},
    {
        "id": "demo-medrxiv",
        "name": "medRxiv Neurology (demo, RDF)",
        "path": "medrxiv-neurology.rdf",
        "evidence_type": "preprint",
    },
    {
        "id": "demo-trials",
        "name": "ClinicalTrials.gov (demo RSS)",
        "path": "trials.xml",
        "evidence_type": "trial-registry",
    },
    {
        "id": "demo-journal",
        "name": "Multiple Sclerosis Journal (demo TOC)",
        "path": "journal-toc.xml",
        "evidence_type": "peer-reviewed",
    },
    {
        "id": "demo-kyverna",
        "name": "Company press releases (demo Atom)",
        "path": "kyverna.atom",
        "evidence_type": "press-release",
    },
    {
        "id": "demo-society",
        "name": "MS society news, DE/FR (demo)",
        "path": "society-news.xml",
        "evidence_type": "society-news",
    },
    {
        "id": "demo-wire",
        "name": "News wire (demo, syndicated copies)",
        "path": "duplicates.xml",
        "evidence_type": "news",
    },
    {
        "id": "demo-ctgov-api",
        "name": "ClinicalTrials.gov API (demo)",
        "path": "ctgov-api.json",
        "evidence_type": "trial-registry",
        "kind": "clinicaltrials",
    },
    {
        "id": "demo-ctis",
        "name": "EU Clinical Trials, CTIS (demo)",
        "path": "ctis.rss",
        "evidence_type": "trial-registry",
        "kind": "ctis",
    },
    {
        "id": "demo-pubmed",
        "name": "PubMed — CAR T and MS (demo E-utilities)",
        "path": "pubmed/esearch.fcgi?db=pubmed&term=CAR-T+AND+multiple+sclerosis&retmode=json",
        "evidence_type": "peer-reviewed",
        "kind": "pubmed",
    },
    {
        "id": "demo-europepmc",
        "name": "Europe PMC — papers and preprints (demo)",
        "path": "europepmc.json",
        "evidence_type": "peer-reviewed",
        "kind": "europepmc",
    },
    {
        "id": "demo-society-page",
        "name": "MS society research page (demo, no feed)",
        "path": "society-research.html",
        "evidence_type": "society-news",
        "kind": "html",
        "group": "Demo MS Society",
        "options": {"item": "article.card", "title": "h3", "link": "a", "date": "time", "summary": "p"},
    },
    {
        "id": "demo-hospital-sitemap",
        "name": "Hospital newsroom via its sitemap (demo, page built by JavaScript)",
        "path": "sitemap.xml",
        "evidence_type": "society-news",
        "kind": "sitemap",
        "group": "Demo Clinic",
        "options": {"paths": ["/hospital/news/"], "max_new_pages": 10},
    },
]
# The sitemap names its pages by absolute URL; the corpus server puts its own address in their place.
SITEMAP_HOST = b"CORPUS_HOST"

# Served instead of the real file until the demo's second poll, so that poll finds changes: the demo trial
# begins recruiting (in Germany and Spain) and plans more participants — "Update" items on the page, in its
# trial feed and in the weekly email.
EARLIER = {"/ctgov-api.json": "/ctgov-api-earlier.json"}
_serving_earlier = threading.Event()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        path = self.path.split("?", 1)[0]
        if path == "/sitemap.xml":
            return self._sitemap()
        if path in EARLIER:
            del self.headers["If-Modified-Since"]  # the two versions' file times say nothing of which is newer
            if _serving_earlier.is_set():
                self.path = EARLIER[path]
        return super().send_head()

    def _sitemap(self) -> Any:
        import io

        host = (self.headers.get("Host") or "127.0.0.1").encode("ascii", "replace")
        body = (DEMO_DATA / "sitemap.xml").read_bytes().replace(SITEMAP_HOST, host)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def guess_type(self, path: Any) -> str:
        if str(path).endswith(".atom"):
            return "application/atom+xml"
        if str(path).endswith((".xml", ".rdf", ".rss")):
            return "application/xml"
        if str(path).endswith((".fcgi", ".json")):
            return "application/json"
        return super().guess_type(path)


def serve_corpus(host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(DEMO_DATA))
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-corpus").start()
    return server


def write_demo_feeds(target: Path, corpus_url: str) -> Path:
    shipped = yaml.safe_load((PROJECT_ROOT / "feeds.yaml").read_text(encoding="utf-8"))
    sources = [
        {
            "id": s["id"],
            "name": s["name"],
            "url": f"{corpus_url}/{s['path']}",
            "evidence_type": s["evidence_type"],
            "kind": s.get("kind", "feed"),
            "interval": "1h",
            "homepage": "https://example.org/",
            **({"group": s["group"]} if s.get("group") else {}),
            **({"options": s["options"]} if s.get("options") else {}),
        }
        for s in DEMO_SOURCES
    ]
    document = {"sources": sources, **{k: v for k, v in shipped.items() if k != "sources"}}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def poll_demo(poller: Poller) -> list[PollReport]:
    """Poll every demo source, then again those with an earlier version (``EARLIER``), which now changed."""
    poller.sync_sources()
    _serving_earlier.set()
    try:
        reports = poller.poll_many([s["id"] for s in DEMO_SOURCES])
    finally:
        _serving_earlier.clear()
    changed = {path.lstrip("/") for path in EARLIER}
    poller.poll_many([s["id"] for s in DEMO_SOURCES if s["path"] in changed])
    return reports


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aggregator.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address the site listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port of the site (default 5000)")
    args = parser.parse_args(argv)

    corpus = serve_corpus()
    corpus_url = f"http://127.0.0.1:{corpus.server_address[1]}"
    feeds = write_demo_feeds(INSTANCE_DIR / "demo" / "feeds.yaml", corpus_url)
    os.environ["FEEDS_FILE"] = str(feeds)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'demo' / 'demo.db'}")

    from flask_migrate import upgrade

    from . import create_app
    from .cli.poll import build_poller

    app = create_app()
    with app.app_context():
        upgrade()
        poller = build_poller(app)
        reports = poll_demo(poller)
        poller.shutdown()
    new = sum(r.new for r in reports)
    print(f"Demo corpus served at {corpus_url}; polled {len(reports)} demo sources ({new} new items).")
    print(f"Demo database: {os.environ['DATABASE_URL']}")
    from .poll import scheduler

    scheduler.background(app, app.extensions["aggregator"].settings.scheduler_tick_seconds,
                         build_poller(app)).start()
    print(f"Serving the demo on http://{args.host}:{args.port}/ (Ctrl+C stops).")
    app.run(host=args.host, port=args.port, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()
