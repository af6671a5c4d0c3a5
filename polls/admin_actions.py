"""What organisers do to polls, from the poll list or the buttons on a poll's page.

Each action gets the queryset the admin hands it, which only ever holds the user's own polls
(PollAdmin.get_queryset), runs the workflow in polls/services on each poll, and reports on each
with an admin message, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from polls.forms import ScheduleForm
from polls.models import Poll
from polls.services import lifecycle
from polls.services.config_push import PushError, push_config
from polls.services.dashboard import PublishError, publish_dashboard
from polls.services.reconcile import ReconcileError, describe_reconciliation, reconcile
from polls.services.twilio_numbers import TwilioError, configure_poll_number


@admin.action(description="Push configuration to DynamoDB", permissions=["change"])
def push_configuration(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]
) -> None:
    for poll in queryset:
        push(modeladmin, request, poll)


def push(modeladmin: admin.ModelAdmin, request: HttpRequest, poll: Poll) -> bool:
    """Push the poll and say how it went; True when it was pushed."""
    try:
        version = push_config(poll)
    except PushError as error:
        modeladmin.message_user(
            request, f"“{poll}” was not pushed to DynamoDB: {error}.", messages.ERROR
        )
        return False
    modeladmin.message_user(
        request, f"Pushed version {version} of “{poll}” to DynamoDB.", messages.SUCCESS
    )
    return True


@admin.action(description="Open now", permissions=["change"])
def open_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]) -> None:
    for poll in queryset:
        _apply_and_report(modeladmin, request, poll, "opened", lifecycle.open_now)


@admin.action(description="Close now", permissions=["change"])
def close_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]) -> None:
    for poll in queryset:
        if _apply_and_report(modeladmin, request, poll, "closed", lifecycle.close_now):
            _report_after_close(modeladmin, request, poll, lifecycle.after_close(poll))


def _report_after_close(
    modeladmin: admin.ModelAdmin, request: HttpRequest, poll: Poll, done: lifecycle.AfterClose
) -> None:
    if done.republish_error:
        modeladmin.message_user(
            request,
            f"“{poll}” is closed, but its dashboard was not republished as final results: "
            f"{done.republish_error}. Try “Publish dashboard” again.",
            messages.WARNING,
        )
    elif done.republished:
        modeladmin.message_user(
            request, f"Republished the dashboard of “{poll}” as final results.", messages.SUCCESS
        )


@admin.action(description="Publish dashboard", permissions=["change"])
def publish(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]) -> None:
    for poll in queryset:
        try:
            url = publish_dashboard(poll)
        except PublishError as error:
            modeladmin.message_user(
                request, f"The dashboard of “{poll}” was not published: {error}.", messages.ERROR
            )
            continue
        modeladmin.message_user(
            request,
            format_html(
                'Published the dashboard of “{}” at <a href="{}" target="_blank" '
                'rel="noopener">{}</a>.',
                poll,
                url,
                url,
            ),
            messages.SUCCESS,
        )


@admin.action(description="Reconcile with Twilio's message log", permissions=["change"])
def reconcile_with_twilio(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]
) -> None:
    """A reconciliation without recovery: storing lost votes is the operator's
    (`manage.py reconcile SLUG --recover`, docs/OPERATIONS.md)."""
    for poll in queryset:
        try:
            result = reconcile(poll)
        except ReconcileError as error:
            modeladmin.message_user(
                request, f"“{poll}” was not reconciled: {error}.", messages.ERROR
            )
            continue
        lost = (
            f" Recover the lost votes with `manage.py reconcile {poll.slug} --recover`."
            if result.lost
            else ""
        )
        modeladmin.message_user(
            request,
            f"Reconciled “{poll}”: {describe_reconciliation(result.summary())}.{lost}",
            messages.WARNING if result.lost or result.unknown_to_twilio else messages.SUCCESS,
        )


@admin.action(description="Rotate voter keys", permissions=["change"])
def rotate_voter_keys(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]
) -> None:
    for poll in queryset:
        _apply_and_report(modeladmin, request, poll, "re-keyed", lifecycle.rotate_voter_keys)


@admin.action(description="Schedule opening and closing…", permissions=["change"])
def schedule(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]
) -> TemplateResponse | None:
    """Asks for the times on a page of its own, then schedules every selected poll."""
    polls = list(queryset)
    if "apply" in request.POST:
        form = ScheduleForm(request.POST)
        if form.is_valid():
            opens_at, closes_at = form.cleaned_data["opens_at"], form.cleaned_data["closes_at"]
            for poll in polls:
                _apply_and_report(
                    modeladmin,
                    request,
                    poll,
                    "scheduled",
                    lambda p: lifecycle.schedule(p, opens_at, closes_at),
                )
            return None
    else:
        only = polls[0] if len(polls) == 1 else None
        form = ScheduleForm(
            initial={"opens_at": only.opens_at, "closes_at": only.closes_at} if only else {}
        )
    return TemplateResponse(
        request,
        "admin/polls/poll/schedule.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Schedule opening and closing",
            "opts": Poll._meta,
            "polls": polls,
            "form": form,
            "action": "schedule",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )


@admin.action(description="Duplicate as a new draft", permissions=["add"])
def duplicate(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]) -> None:
    for poll in queryset:
        try:
            copy = lifecycle.duplicate(poll)
        except lifecycle.LifecycleError as error:
            modeladmin.message_user(
                request, f"“{poll}” was not duplicated: {error}.", messages.ERROR
            )
            continue
        modeladmin.message_user(
            request,
            format_html(
                'Duplicated “{}” as the draft <a href="{}">{}</a>.',
                poll,
                reverse("admin:polls_poll_change", args=[copy.pk]),
                copy.slug,
            ),
            messages.SUCCESS,
        )


@admin.action(description="Point the Twilio number at the SMS webhook", permissions=["change"])
def configure_twilio_number(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Poll]
) -> None:
    done: set[str] = set()
    for poll in queryset:
        if poll.number in done:
            continue  # polls sharing a number share its webhook
        try:
            result = configure_poll_number(poll)
        except TwilioError as error:
            modeladmin.message_user(
                request,
                f"The Twilio number {poll.number} of “{poll}” was not configured: {error}.",
                messages.ERROR,
            )
            continue
        done.add(poll.number)
        modeladmin.message_user(
            request,
            f"Twilio now sends the texts to {result.number} ({result.sid}) with "
            f"{result.sms_method} to {result.sms_url}.",
            messages.SUCCESS,
        )


def _apply_and_report(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    poll: Poll,
    done: str,
    change: Callable[[Poll], int],
) -> bool:
    """Run a lifecycle change (it returns the pushed version) and say how it went; True when
    it was made. `done` is its past participle, for the messages."""
    try:
        version = change(poll)
    except lifecycle.LifecycleError as error:
        modeladmin.message_user(request, f"“{poll}” was not {done}: {error}.", messages.ERROR)
        return False
    modeladmin.message_user(
        request,
        f"{done.capitalize()} “{poll}” and pushed version {version} to DynamoDB.",
        messages.SUCCESS,
    )
    return True
