"""/sources.opml and /feeds.opml: what they list, hostile names kept inert, and a real feed reader importing them
(Debian's newsboat, headless: `-i` imports an OPML file, `-x reload` fetches every feed from our loopback server,
`-e` exports what it subscribed to with the titles it read)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from aggregator.web.opml_document import Outline, render_opml
from tests.conftest import make_app, write_feeds_file

SOURCES = [
    {"id": "journal", "name": "MS Journal", "url": "https://journal.example/rss?a=1&b=2",
     "homepage": "https://journal.example/", "evidence_type": "peer-reviewed"},
    {"id": "ctis", "name": "EU CTIS — MS", "kind": "ctis", "url": "https://ctis.example/updates.rss",
     "homepage": "https://ctis.example/", "evidence_type": "trial-registry"},
    {"id": "society", "name": "MS Society research news", "kind": "html", "url": "https://society.example/news",
     "homepage": "https://society.example/", "evidence_type": "society-news",
     "options": {"item": "article", "title": "h2", "link": "a[href]"}},
    {"id": "off", "name": "Switched off", "url": "https://off.example/feed", "enabled": False},
    {"id": "hostile", "name": 'News & "Views" <b>bold</b> </outline><outline xmlUrl="http://evil.example/">',
     "url": "https://hostile.example/feed?x=<y>", "evidence_type": "news"},
]


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Flask:
    return make_app(sqlite_url, write_feeds_file(tmp_path / "feeds.yaml", SOURCES))


def outlines(document: bytes) -> list[dict[str, Any]]:
    """Every subscription outline of an OPML document, with the text of its group."""
    root = ET.fromstring(document)
    assert root.tag == "opml" and root.get("version") == "2.0"
    found = []
    for group in root.find("body") or []:
        for node in ([group] if group.get("xmlUrl") else list(group)):
            found.append({"group": None if node is group else group.get("text"), **node.attrib})
    return found


def test_sources_opml_lists_every_enabled_source_with_its_feed(site: Flask) -> None:
    response = site.test_client().get("/sources.opml")
    assert response.status_code == 200 and response.mimetype == "text/x-opml"
    listed = outlines(response.data)
    assert [(o["group"], o["text"], o["xmlUrl"], o.get("htmlUrl")) for o in listed] == [
        ("Trial registry", "EU CTIS — MS", "https://ctis.example/updates.rss", "https://ctis.example/"),
        ("Peer-reviewed paper", "MS Journal", "https://journal.example/rss?a=1&b=2", "https://journal.example/"),
        # A web page has no feed of its own: our feed of its matching items stands in.
        ("Society or centre news", "MS Society research news",
         "http://aggregator.test/feed.xml?topic=all&source=society", "https://society.example/"),
        # The hostile name and URL come back as the text they are: no extra outline, no markup.
        ("General news", 'News & "Views" <b>bold</b> </outline><outline xmlUrl="http://evil.example/">',
         "https://hostile.example/feed?x=<y>", None),
    ]
    assert all(o["type"] == "rss" for o in listed)
    assert b"Switched off" not in response.data
    again = site.test_client().get("/sources.opml", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert site.test_client().get("/sources.opml?x=1").status_code == 400


def test_feeds_opml_lists_a_feed_per_topic_and_all_topics(site: Flask) -> None:
    listed = outlines(site.test_client().get("/feeds.opml").data)
    assert [(o["text"], o["xmlUrl"], o["htmlUrl"]) for o in listed] == [
        ("CAR T for multiple sclerosis — CAR T & MS Research", "http://aggregator.test/feed.xml?topic=car-t-ms",
         "http://aggregator.test/?topic=car-t-ms"),
        ("CAR T in autoimmune disease — CAR T & MS Research",
         "http://aggregator.test/feed.xml?topic=car-t-autoimmune", "http://aggregator.test/?topic=car-t-autoimmune"),
        ("MS research — CAR T & MS Research", "http://aggregator.test/feed.xml?topic=ms-research",
         "http://aggregator.test/?topic=ms-research"),
        ("All topics — CAR T & MS Research", "http://aggregator.test/feed.xml?topic=all",
         "http://aggregator.test/?topic=all"),
    ]


def test_characters_xml_cannot_carry_are_dropped() -> None:
    document = render_opml("t\x07", [Outline(text="Bell\x07 \x1bsource", xml_url="https://x.example/\x00feed")],
                           "https://site.example/")
    [outline] = outlines(document)
    assert outline["text"] == "Bell source" and outline["xmlUrl"] == "https://x.example/feed"


# ------------------------------------------------------------------------------------------- a real feed reader


def newsboat() -> str:
    path = shutil.which("newsboat")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("newsboat is not installed (apt-get install newsboat; .ci/run's APT_PACKAGES has it)")
        pytest.skip("newsboat is not installed (apt-get install newsboat)")
    return path


def run_newsboat(home: Path, *args: str) -> str:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}
    done = subprocess.run([newsboat(), "-u", str(home / "urls"), "-c", str(home / "cache.db"),
                           "-C", str(home / "config.txt"), *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[Flask]:
    """The app on a real loopback HTTP server, BASE_URL its address (so the OPML's links lead back to it)."""
    holder: dict[str, Flask] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = make_app(sqlite_url, write_feeds_file(tmp_path / "feeds.yaml", SOURCES), base_url=base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["app"]
    server.shutdown()
    thread.join(timeout=10)


def test_newsboat_imports_the_sources(site: Flask, tmp_path: Path) -> None:
    home = tmp_path / "reader"
    home.mkdir()
    (home / "config.txt").write_text("")
    (home / "sources.opml").write_bytes(site.test_client().get("/sources.opml").data)
    run_newsboat(home, "-i", str(home / "sources.opml"))
    urls = [line.split(' "', 1)[0] for line in (home / "urls").read_text().splitlines() if line.strip()]
    assert urls == [o["xmlUrl"] for o in outlines((home / "sources.opml").read_bytes())]


def test_newsboat_subscribes_to_every_topic_feed_and_reads_them(served: Flask, tmp_path: Path) -> None:
    home = tmp_path / "reader"
    home.mkdir()
    (home / "config.txt").write_text("")
    base = served.extensions["aggregator"].settings.base_url
    (home / "feeds.opml").write_bytes(served.test_client().get("/feeds.opml").data)
    run_newsboat(home, "-i", str(home / "feeds.opml"))
    run_newsboat(home, "-x", "reload")  # fetches each feed from the loopback server
    exported = ET.fromstring(run_newsboat(home, "-e"))
    read = [(o.get("xmlUrl"), o.get("title"), o.get("htmlUrl")) for o in exported.iter("outline")]
    assert read == [
        (f"{base}/feed.xml?topic=car-t-ms", "CAR T for multiple sclerosis — CAR T & MS Research",
         f"{base}/?topic=car-t-ms"),
        (f"{base}/feed.xml?topic=car-t-autoimmune", "CAR T in autoimmune disease — CAR T & MS Research",
         f"{base}/?topic=car-t-autoimmune"),
        (f"{base}/feed.xml?topic=ms-research", "MS research — CAR T & MS Research", f"{base}/?topic=ms-research"),
        (f"{base}/feed.xml?topic=all", "All topics — CAR T & MS Research", f"{base}/?topic=all"),
    ]
