"""Reviewers correct the topic filter: ``label`` stores a verdict, ``export-labels`` turns verdicts into test cases.

A false positive seen on the page becomes ``flask label 123 --topic car-t-ms --no --note "degree page"``; the page,
the feeds and the email drop the item from that topic at once, ``reclassify`` keeps the verdict, and
``export-labels`` writes it as a line of the labelled evaluation set (``tests/data/topics/``), so the next change
of the rules is measured on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

import click
from flask import Flask
from flask.cli import with_appcontext

from .. import store
from ..context import services
from ..db import get_database
from ..models import Item
from ..topics.review import Verdict

# Evidence type of the item's source → the "source_kind" of the labelled set's lines.
SOURCE_KIND = {
    "trial-registry": "clinicaltrials",
    "peer-reviewed": "pubmed",
    "preprint": "pubmed",
    "press-release": "press_release",
    "society-news": "society",
    "news": "news",
}
# A topic implies these (an item about CAR T and MS is about CAR T in an autoimmune disease, and about MS).
IMPLIES = {"car-t-ms": ("car-t-autoimmune", "ms-research")}


@click.command("label")
@with_appcontext
@click.argument("item_id", type=int)
@click.option("--topic", "topic_id", required=True, metavar="TOPIC", help="The topic the verdict is about.")
@click.option("--yes/--no", "belongs", default=None,
              help="--yes: the item belongs in the topic; --no: it does not. One of them is required.")
@click.option("--note", default="", help="Why, in one line (kept with the verdict and exported with it).")
def label_command(item_id: int, topic_id: str, belongs: bool | None, note: str) -> None:
    """Store a reviewer's verdict on ITEM_ID (the number in the item's page anchor) for one topic.

    The verdict overrides the rules for that item and topic at once (page, feeds, email), and `reclassify`
    and later polls keep it. Giving a verdict again replaces the earlier one.
    """
    topic_ids = services().classifier.topic_ids
    if topic_id not in topic_ids:
        raise click.BadParameter(f"unknown topic {topic_id!r}. Known: {', '.join(topic_ids)}", param_hint="--topic")
    if belongs is None:
        raise click.UsageError("say --yes (the item belongs in the topic) or --no (it does not).")
    note = " ".join(note.split())
    with get_database().session_scope() as session:
        item = store.item_with_topics(session, item_id)
        if item is None:
            raise click.ClickException(f"no item {item_id}.")
        changed = store.set_label(session, item, topic_id, belongs, note, datetime.now(UTC))
        title = item.title[:80]
    verb = "belongs in" if belongs else "does not belong in"
    effect = "its topics changed" if changed else "its topics were already so"
    click.echo(f"Item {item_id} ({title}) {verb} {topic_id}: recorded, {effect}.")


@click.command("export-labels")
@with_appcontext
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file (default: standard output).")
def export_labels_command(output: IO[str]) -> None:
    """Write every reviewed item as a line of the labelled evaluation set (JSON Lines).

    Each line has "title", "summary", "source_kind", "url", "labels" (every topic: the reviewer's verdict where
    there is one, else the item's present topics), "reviewed" (the topics a reviewer decided) and "note".
    Check the labels a reviewer did not decide before adding the lines to the dev set.
    """
    topic_ids = services().classifier.topic_ids
    count = 0
    with get_database().session_scope() as session:
        for item, verdicts in store.iter_labelled_items(session):
            output.write(json.dumps(export_row(item, verdicts, topic_ids), ensure_ascii=False) + "\n")
            count += 1
    click.echo(f"Exported {count} reviewed item(s).", err=True)


def export_row(item: Item, verdicts: Mapping[str, Verdict], topic_ids: list[str]) -> dict[str, Any]:
    """One labelled line: the verdicts, what they imply, and the item's present topics for the rest."""
    present = {t.topic_id for t in item.topics}
    labels = {topic: topic in present for topic in topic_ids}
    for topic, verdict in verdicts.items():
        if verdict.belongs:
            for implied in IMPLIES.get(topic, ()):
                if implied in labels and implied not in verdicts:
                    labels[implied] = True
    for topic, verdict in verdicts.items():
        labels[topic] = verdict.belongs
    said = "; ".join(f"{topic} {'yes' if v.belongs else 'no'}" + (f": {v.note}" if v.note else "")
                     for topic, v in sorted(verdicts.items()))
    return {
        "title": item.title,
        "summary": item.summary_text,
        "source_kind": SOURCE_KIND.get(item.evidence_type, "news"),
        "url": item.link or "",
        "labels": labels,
        "reviewed": sorted(verdicts),
        "note": f"reviewer: {said}",
    }


def init_app(app: Flask) -> None:
    for command in (label_command, export_labels_command):
        app.cli.add_command(command)
