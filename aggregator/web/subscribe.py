"""Blueprint "subscribe": the subscribe form, double opt-in confirmation, managing topics, unsubscribing, and the
browser preview of a week's digest at ``/digest/YYYY-Www``.

Every form is CSRF-protected by Flask-WTF, except the one-click unsubscribe POST: RFC 8058 has the reader's mail
client POST ``List-Unsubscribe=One-Click`` to the link of the ``List-Unsubscribe`` header, with no cookie, no
token and no login — the signed link itself is the proof. GET on that link never unsubscribes (link scanners
and previews open links), it shows a page with one button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from wtforms import SelectMultipleField, StringField, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .. import store
from ..context import services
from ..db import request_session
from ..errors import DeliveryError, InvalidLink
from ..mail import digest, subscriptions
from ..mail.delivery import digest_links
from ..mail.mailer import Outgoing, make_message_id, send_one
from ..mail.subscriptions import DEFAULT_TOPIC, InvalidAddress, Links, Tokens
from ..models import Subscriber
from ..store import mail as store_mail
from ..trials.countries import country_names
from ..trials.finder import find
from . import limits

log = logging.getLogger(__name__)

bp = Blueprint("subscribe", __name__)
csrf = CSRFProtect()

CLOCK = "aggregator.clock"
# The email preview shows the real email HTML, whose CSS is inline by necessity (mail clients drop <style> and
# external sheets); this page alone allows inline styles. Scripts stay forbidden.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")


def now() -> datetime:
    clock: Callable[[], datetime] = current_app.extensions.get(CLOCK, lambda: datetime.now(UTC))
    return clock()


def tokens() -> Tokens:
    return Tokens(current_app.config["SECRET_KEY"], services().settings.confirm_max_age, now)


def links() -> Links:
    return Links(services().settings.base_url, tokens())


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _address(_form: FlaskForm, field: StringField) -> None:
    try:
        field.data = subscriptions.normalise_address(field.data or "")
    except InvalidAddress as exc:
        raise ValidationError(str(exc)) from exc


def _at_least_one(_form: FlaskForm, field: MultiCheckboxField) -> None:
    if not field.data:
        raise ValidationError("Choose at least one topic (or unsubscribe below).")


class SubscribeForm(FlaskForm):  # type: ignore[misc]
    email = StringField("Email address", validators=[_address])
    topics = MultiCheckboxField("Topics", validators=[_at_least_one])


class TopicsForm(FlaskForm):  # type: ignore[misc]
    topics = MultiCheckboxField("Topics", validators=[_at_least_one])


def _topic_choices() -> list[tuple[str, str]]:
    return list(services().topic_names.items())


def _subscribe_form() -> SubscribeForm:
    form = SubscribeForm()
    form.topics.choices = _topic_choices()
    if not form.is_submitted():
        form.topics.data = [DEFAULT_TOPIC] if DEFAULT_TOPIC in services().topic_names else []
    return form


def _requested_trials() -> list[str]:
    """The trials a visitor came to follow (``/subscribe?trial=NCT…`` from a trial page, then the form's field)."""
    return subscriptions.clean_trials(request.values.getlist("trial"))


@bp.get("/subscribe")
def subscribe_page() -> ResponseReturnValue:
    return render_template("subscribe/form.html", form=_subscribe_form(), trials=_requested_trials())


@bp.post("/subscribe")
def subscribe() -> ResponseReturnValue:
    form = _subscribe_form()
    trials = _requested_trials()
    if not form.validate():  # not counted by the rate limit (limits.py counts what was not a 400)
        return render_template("subscribe/form.html", form=form, trials=trials), 400
    settings = services().settings
    session = request_session()
    topics = subscriptions.clean_topics(form.topics.data or [], list(services().topic_names))
    outcome = subscriptions.request_subscription(session, form.email.data or "", topics, now(), trials)
    session.commit()
    subscriber = outcome.subscriber
    link_maker = links()
    if outcome.already_confirmed:
        rendered = digest.render_confirmation("", link_maker.manage(subscriber.id, subscriber.email),
                                              settings.base_url + "/", already=True)
    else:
        rendered = digest.render_confirmation(link_maker.confirm(subscriber), None, settings.base_url + "/",
                                              already=False)
    try:
        send_one(settings, Outgoing(to=subscriber.email, subject=rendered.subject, text=rendered.text,
                                    html=rendered.html, message_id=make_message_id(settings.mail_from),
                                    date=now()))
    except DeliveryError as exc:
        log.error("subscribe: could not send the confirmation email: %s", exc)
        return render_template("subscribe/message.html", title="We could not send the email",
                               message="Our mail server did not accept the message just now. "
                                       "Please try again in a few minutes."), 503
    # The same answer whatever the state of the address (no account enumeration).
    return redirect(url_for("subscribe.check_inbox"), code=303)


@bp.get("/subscribe/sent")
def check_inbox() -> ResponseReturnValue:
    return render_template(
        "subscribe/message.html", title="Check your inbox",
        message="If the address can receive email, a message is on its way to it. To start the weekly digest, "
                "open the link in that message. Nothing is sent until you do.")


@bp.get(subscriptions.CONFIRM_PATH + "<token>")
def confirm_page(token: str) -> ResponseReturnValue:
    subscriber_id, email = tokens().read_confirm(token)
    subscriptions.find(request_session(), subscriber_id, email)
    return render_template("subscribe/confirm.html", email=email)


@bp.post(subscriptions.CONFIRM_PATH + "<token>")
def confirm(token: str) -> ResponseReturnValue:
    subscriber_id, email = tokens().read_confirm(token)
    session = request_session()
    subscriber = subscriptions.confirm(session, subscriber_id, email, now())
    session.commit()
    manage_url = url_for("subscribe.manage", token=tokens().list_token(subscriber.id, subscriber.email))
    return render_template("subscribe/message.html", title="You are subscribed",
                           message=f"The weekly digest will come to {subscriber.email} every week "
                                   "that brings news on your topics.",
                           link=manage_url, link_text="Change your topics or unsubscribe")


def _manage_form(selected: list[str]) -> TopicsForm:
    form = TopicsForm()
    form.topics.choices = _topic_choices()
    if not form.is_submitted():
        form.topics.data = selected
    return form


def _manage_page(subscriber: Subscriber, token: str, form: TopicsForm, saved: bool = False,
                 trial_error: str | None = None, new_trial: str = "") -> str:
    views = {view.key: view for view in store.trial_views(request_session())}
    followed = []
    for key in subscriber.trials or []:
        view = views.get(key) or find(list(views.values()), key)
        followed.append((key, view.title if view else None))
    return render_template("subscribe/manage.html", form=form, subscriber=subscriber, token=token, saved=saved,
                           followed=followed, countries=country_names(), trial_error=trial_error,
                           new_trial=new_trial)


@bp.get(subscriptions.MANAGE_PATH + "<token>")
def manage(token: str) -> ResponseReturnValue:
    subscriber_id, email = tokens().read_list(token)
    subscriber = subscriptions.find(request_session(), subscriber_id, email)
    return _manage_page(subscriber, token, _manage_form(list(subscriber.topics or [])),
                        saved=request.args.get("saved") == "1")


@bp.post(subscriptions.MANAGE_PATH + "<token>")
def manage_save(token: str) -> ResponseReturnValue:
    subscriber_id, email = tokens().read_list(token)
    session = request_session()
    subscriber = subscriptions.find(session, subscriber_id, email)
    form = _manage_form(list(subscriber.topics or []))
    if request.form.get("action") == "resubscribe":
        subscriptions.resubscribe(session, subscriber_id, email, now())
        session.commit()
        return redirect(url_for("subscribe.manage", token=token, saved="1"), code=303)
    if request.form.get("action") == "trials":
        return _save_trial_alerts(subscriber, token, form)
    if not form.validate():
        return _manage_page(subscriber, token, form), 400
    topics = subscriptions.clean_topics(form.topics.data or [], list(services().topic_names))
    subscriptions.set_topics(session, subscriber_id, email, topics)
    session.commit()
    return redirect(url_for("subscribe.manage", token=token, saved="1"), code=303)


def _save_trial_alerts(subscriber: Subscriber, token: str, form: TopicsForm) -> ResponseReturnValue:
    """The manage page's trial form: the trials kept (ticked), one to add by number, and the reader's country."""
    kept = subscriptions.clean_trials(request.form.getlist("trials"))
    added = (request.form.get("add_trial") or "").strip()
    if added:
        try:
            kept.append(subscriptions.trial_key(added))
        except subscriptions.InvalidTrial as exc:
            return _manage_page(subscriber, token, form, trial_error=str(exc), new_trial=added[:40]), 400
    country = subscriptions.clean_country(request.form.get("country"), country_names())
    session = request_session()
    subscriptions.set_trial_alerts(session, subscriber.id, subscriber.email, subscriptions.clean_trials(kept), country)
    session.commit()
    return redirect(url_for("subscribe.manage", token=token, saved="1"), code=303)


@bp.get(subscriptions.UNSUBSCRIBE_PATH + "<token>")
def unsubscribe_page(token: str) -> ResponseReturnValue:
    subscriber_id, email = tokens().read_list(token)
    subscriber = subscriptions.find(request_session(), subscriber_id, email)
    return render_template("subscribe/unsubscribe.html", subscriber=subscriber, token=token)


@bp.post(subscriptions.UNSUBSCRIBE_PATH + "<token>")
@csrf.exempt  # type: ignore[untyped-decorator]
def unsubscribe(token: str) -> ResponseReturnValue:
    """The one-click POST (RFC 8058) and the button of the unsubscribe page: no CSRF token, no login."""
    subscriber_id, email = tokens().read_list(token)
    session = request_session()
    subscriber = subscriptions.unsubscribe(session, subscriber_id, email, now())
    session.commit()
    if request.form.get("List-Unsubscribe") == "One-Click":
        return Response("Unsubscribed.\n", status=200, mimetype="text/plain")
    return render_template("subscribe/message.html", title="You are unsubscribed",
                           message=f"{subscriber.email} will get no more digests. Changed your mind?",
                           link=url_for("subscribe.manage", token=token), link_text="Subscribe again")


@bp.get("/digest")
def digest_latest() -> ResponseReturnValue:
    settings = services().settings
    week = digest.previous_week(now(), settings.digest_timezone)
    return redirect(url_for("subscribe.digest_preview", week=str(week)))


@bp.get("/digest/<week>")
def digest_preview(week: str) -> ResponseReturnValue:
    svc = services()
    settings = svc.settings
    target = digest.parse_week(week)
    start, end = target.bounds(settings.digest_timezone)
    items = store_mail.items_first_seen_between(request_session(), start, end)
    topic_names = svc.topic_names
    built = digest.build(target, items, list(topic_names), topic_names, settings.digest_timezone)
    base = digest_links(settings, target)
    page_links = digest.Links(site=base.site, rss=base.rss, week_page=base.week_page, subscribe=base.subscribe,
                              unsubscribe=url_for("subscribe.subscribe_page"),
                              manage=url_for("subscribe.subscribe_page"))
    rendered = digest.render(built, page_links, preview=True)
    response = Response(rendered.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@bp.errorhandler(InvalidLink)
def invalid_link(exc: InvalidLink) -> ResponseReturnValue:
    return render_template("subscribe/message.html", title="This link does not work",
                           message=str(exc), link=url_for("subscribe.subscribe_page"),
                           link_text="Subscribe again"), 400


def init_app(app: Flask) -> None:
    """Register the blueprint, CSRF protection for every form of the site, and the rate limit of the POST."""
    app.register_blueprint(bp)
    csrf.init_app(app)
    limits.limit_view(app, "subscribe.subscribe", f"{services_limit(app)}/hour")

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> ResponseReturnValue:
        return render_template("subscribe/message.html", title="This form has expired",
                               message="For your safety, forms work for a limited time. Please go back, reload "
                                       "the page and send the form again."), 400


def services_limit(app: Flask) -> int:
    limit: int = app.extensions["aggregator"].settings.subscribe_rate_limit
    return limit
