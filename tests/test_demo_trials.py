"""``make demo`` shows trials: its ClinicalTrials.gov API source polled twice (as ``aggregator.demo`` does) gives a
recruiting trial with sites in three countries, a status change between the polls, and its CTIS twin."""

from __future__ import annotations

from pathlib import Path

from tests.kinds_helpers import events, poll_demo_corpus


def test_demo_polls_give_a_recruiting_trial_with_a_change(tmp_path: Path, sqlite_url: str) -> None:
    app, reports = poll_demo_corpus(tmp_path, sqlite_url)
    assert all(r.outcome == "ok" for r in reports), [r for r in reports if r.outcome != "ok"]
    summaries = [e.summary for e in events(app)]
    assert summaries[:3] == ["Status changed from Not yet recruiting to Recruiting",
                             "Now recruiting in Germany: University Hospital Erlangen (demo site)",
                             "Now recruiting in Spain: Barcelona MS Centre (demo site)"]
    client = app.test_client()
    finder = client.get("/trials").get_data(as_text=True)
    assert finder.count('class="item trial-card"') == 2 and "EU CT 2026-500123-45-00" in finder
    page = client.get("/trials/NCT09900101").get_data(as_text=True)
    assert "Where it runs (4 countries)" in page  # Germany, Spain, United States, and Italy from CTIS
    assert [c for c in ("Germany", "Spain", "United States") if f"<h3>{c}</h3>" in page] == [
        "Germany", "Spain", "United States"]
    assert client.get("/trials/2026-500123-45-00").status_code == 301
