"""Blueprint "items": one page per item at /items/<id>, the permalink that feeds, emails and the API point to.

It shows what the list shows, in full: the summary, why the item matched (the digest's "why this item is here"),
the other sources that reported the same story, the trials it names, and its updates. A duplicate's page says
which item it is another report of. When the item's own link is gone (404/410), the page says so and keeps
everything else, which is why feeds and emails then link here.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from .. import store
from ..context import services
from ..db import request_session
from .derived import derived
from .pages import _views
from .render import highlight

bp = Blueprint("items", __name__)


@bp.get("/items/<int:item_id>")
def item(item_id: int) -> ResponseReturnValue:
    session = request_session()
    found = store.item_by_id(session, item_id)
    if found is None:
        abort(404, description="There is no item with this number. It may have been removed with its source.")
    primary = store.item_by_id(session, found.duplicate_of_id) if found.duplicate_of_id else None
    story_id = primary.id if primary is not None else found.id
    also = store.also_reported(session, [story_id])
    others = [dup for dup in also.get(story_id, []) if dup.id != found.id]
    code_map = derived("trial-codes", lambda: store.trial_code_map(session))
    [view] = _views([found], {found.id: others}, store.events_for(session, [found.id]), code_map)
    trials = {trial.key: trial for trial in derived("trial-views", lambda: store.trial_views(session))}
    named = [(key, trials[key].title if key in trials else None) for key in view.trials]
    topic_set = services().classifier.topic_set
    summary = highlight(found.summary_text, topic_set.highlight_spans(found.summary_text))
    return render_template("items/item.html", view=view, item=found, primary=primary, summary=summary,
                           named=named, others=others, canonical=services().settings.base_url + f"/items/{found.id}")
