"""What organisers do to polls, from the poll list or the buttons on a poll's page.

Each action gets the queryset the admin hands it, which only ever holds the user's own polls
(PollAdmin.get_queryset), runs the workflow in polls/services on each poll, and reports on each
with an admin message, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from lambdas.shared.channels import Channel
from polls.forms import ScheduleForm
from polls.models import Poll
from polls.services import invalidation, lifecycle
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


class VoidForm(forms.Form):
    """Which votes to void and why: voter keys, or a slice (polls.services.invalidation)."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="On the record.")
    voter_keys = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Voter keys (as the votes CSV lists them), separated by spaces or lines; "
        "or leave blank and give a time window below.",
    )
    received_from = forms.DateTimeField(required=False, label="Received from")
    received_to = forms.DateTimeField(required=False, label="Received before")
    region = forms.CharField(
        required=False, max_length=20, help_text="e.g. US-CA or GB; blank for any region."
    )
    channel = forms.ChoiceField(
        required=False,
        choices=[("", "any channel"), *((c.value, c.display_name) for c in Channel)],
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        keys = tuple(dict.fromkeys(str(data.get("voter_keys") or "").replace(",", " ").split()))
        if not keys and data.get("received_from") is None and data.get("received_to") is None:
            raise forms.ValidationError("Give voter keys, or a time window.")
        try:
            data["selection"] = invalidation.Selection(
                voter_keys=keys,
                received_from=data.get("received_from"),
                received_to=data.get("received_to"),
                region=data.get("region") or None,
                channel=Channel(data["channel"]) if data.get("channel") else None,
            )
        except invalidation.InvalidationError as error:
            raise forms.ValidationError(f"{str(error)[:1].upper()}{str(error)[1:]}.") from None
        return data


def void_votes_page(modeladmin: admin.ModelAdmin, request: HttpRequest, poll: Poll) -> HttpResponse:
    """A poll's "Void votes…" page: the form, its preview, then the void (on "void")."""
    form = VoidForm(request.POST) if request.method == "POST" else VoidForm(initial=request.GET)
    previewed = None
    if form.is_valid():
        selection = form.cleaned_data["selection"]
        try:
            if "void" in request.POST:
                outcome = invalidation.void(
                    poll, selection, reason=form.cleaned_data["reason"], by=str(request.user)
                )
                _report_void(modeladmin, request, poll, outcome)
                return redirect("admin:polls_poll_change", poll.pk)
            previewed = invalidation.preview(poll, selection)
        except invalidation.InvalidationError as error:
            form.add_error(None, f"{str(error)[:1].upper()}{str(error)[1:]}.")
    return TemplateResponse(
        request,
        "admin/polls/poll/void.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": f"Void votes of “{poll}”",
            "opts": Poll._meta,
            "poll": poll,
            "form": form,
            "preview": previewed,
        },
    )


def _report_void(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    poll: Poll,
    outcome: invalidation.VoidOutcome,
) -> None:
    if outcome.invalidation is None:
        modeladmin.message_user(
            request, f"Nothing voided in “{poll}”: no counted vote matches.", messages.WARNING
        )
        return
    # Of a poll with several votes per phone, a voter given votes since the preview has them
    # voided too: more votes than previewed, none left.
    changed = max(outcome.previewed - outcome.voided, 0)
    meanwhile = f" ({changed} changed or were voided meanwhile, and were left)" if changed else ""
    voters = f" ({outcome.voters} voters)" if poll.votes_per_phone_in_force() > 1 else ""
    modeladmin.message_user(
        request,
        f"Void #{outcome.invalidation.pk}: voided {outcome.voided} votes{voters} of “{poll}”"
        f"{meanwhile}.",
        messages.SUCCESS,
    )


def unvoid_votes(
    modeladmin: admin.ModelAdmin, request: HttpRequest, poll: Poll, void_id: int
) -> None:
    """The "Unvoid" button of a void in the poll's log."""
    try:
        entry = invalidation.unvoid(poll, void_id, reason="", by=str(request.user))
    except invalidation.InvalidationError as error:
        modeladmin.message_user(request, f"Nothing unvoided: {error}.", messages.ERROR)
        return
    modeladmin.message_user(
        request,
        f"Unvoid #{entry.pk}: the {entry.count} votes of void #{void_id} count again.",
        messages.SUCCESS,
    )
