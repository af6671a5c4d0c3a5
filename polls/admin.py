"""The organisers' portal: polls with their categories, and what the admin shows of them.

Organisers are staff users who see and change only their own polls (organisers.polls_of);
superusers see all. What the actions and a poll's buttons do is in admin_actions; the
workflows (closing, deleting) in polls/services/lifecycle.py, the AWS and Twilio work in
polls/services.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from lambdas.shared import keys
from lambdas.shared.config_doc import PollStatus, VotingState
from polls import admin_actions
from polls.forms import CategoryForm, CategoryFormSet, PollForm
from polls.models import REPLY_FIELDS, Category, Invalidation, PhoneNumber, Poll
from polls.organisers import polls_of
from polls.services import anomalies, capacity, invalidation, lifecycle
from polls.services.config_push import has_unpushed_changes
from polls.services.dashboard import public_url
from polls.services.reconcile import describe_reconciliation
from polls.services.results import ResultsError, read_results, read_totals, results_document
from polls.services.twilio_numbers import TwilioError, sync_phone_numbers

PLACEHOLDER_HELP = (
    "Blank fields send the default text. Placeholders: {label} and {code} (the vote's "
    "category), {question}, {choices} (codes with labels), {codes}, {channel} (how the poll "
    "takes votes: SMS, WhatsApp, or SMS or WhatsApp). With several votes per phone also "
    "{count} (the votes the message gave), {remaining} and {limit} (the phone's votes left, "
    "and in all), {votes} (the votes it has given, by label: Apples 3, Bananas 2) and "
    "{example} (a choice with a count: A 2)."
)
# How often a poll's page refreshes its results panel.
RESULTS_REFRESH_SECONDS = 2
# The buttons on a poll's page: (action, label). Each runs the list action of that name.
PAGE_ACTIONS = [
    ("open_now", "Open now"),
    ("close_now", "Close now"),
    ("schedule", "Schedule…"),
    ("push_configuration", "Push configuration"),
    ("configure_twilio_number", "Configure Twilio number"),
    ("publish", "Publish dashboard"),
    ("duplicate", "Duplicate"),
    ("rotate_voter_keys", "Rotate voter keys"),
    ("reconcile_with_twilio", "Reconcile with Twilio"),
]
_IN_DYNAMODB = [
    "config_state",
    "vote_keys",
    "twilio_webhook",
    "public_dashboard",
    "results",
    "last_recount",
    "reconciliation",
]


class CategoryInline(admin.TabularInline):
    model = Category
    form = CategoryForm
    formset = CategoryFormSet
    fields = ("label", "code", "aliases", "colour", "order")

    class Media:
        js = ["polls/category_colours.js"]

    def get_extra(self, request: HttpRequest, obj: Poll | None = None, **kwargs: Any) -> int:
        return 0 if obj else 3


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    form = PollForm
    inlines = [CategoryInline]
    list_display = (
        "question",
        "slug",
        "number",
        "voting_state",
        "total_votes",
        "pushed",
        "dashboard",
    )
    list_filter = ("status",)
    search_fields = ("question", "slug")
    actions = [
        admin_actions.push_configuration,
        admin_actions.open_now,
        admin_actions.close_now,
        admin_actions.schedule,
        admin_actions.duplicate,
        admin_actions.configure_twilio_number,
        admin_actions.publish,
        admin_actions.rotate_voter_keys,
        admin_actions.reconcile_with_twilio,
    ]
    prepopulated_fields = {"slug": ("question",)}

    class Media:
        css = {"all": ["polls/admin.css"]}
        js = ["polls/results_panel.js"]

    # Ownership: non-superusers only ever reach their own polls.

    def get_queryset(self, request: HttpRequest) -> QuerySet[Poll]:
        # Categories come along: the state and "unpushed changes" columns read every poll's.
        polls = polls_of(request.user).select_related("owner").prefetch_related("categories")
        ordering = self.get_ordering(request)
        return polls.order_by(*ordering) if ordering else polls

    def _may_touch(self, request: HttpRequest, poll: Poll | None) -> bool:
        return poll is None or request.user.is_superuser or poll.owner_id == request.user.pk

    def has_view_permission(self, request: HttpRequest, obj: Poll | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._may_touch(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Poll | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Poll | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Poll | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None and not request.user.is_superuser:
            # The admin serves signed-in staff only, with this admin's form.
            assert isinstance(request.user, User) and issubclass(form, PollForm)
            return form.owned_by(request.user)  # see save_model
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    # The list.

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        if request.method == "GET":
            polls = list(changelist.result_list)  # evaluated once; the template reuses them
            try:
                totals: dict[str, int] = read_totals(poll.slug for poll in polls)
            except ResultsError as error:
                self.message_user(
                    request, f"Vote totals are unavailable: {error}.", messages.WARNING
                )
                totals = {}
            for poll in polls:
                poll.live_total = totals.get(poll.slug)
        return changelist

    @admin.display(description="State")
    def voting_state(self, poll: Poll) -> str:
        state = poll.to_config().voting_state(timezone.now())
        if state == VotingState.ACCEPTING:
            return f"Open until {_when(poll.closes_at)}" if poll.closes_at else "Open"
        if state == VotingState.NOT_OPEN_YET:
            return f"Scheduled: opens {_when(poll.opens_at)}"
        return "Closed" if state == VotingState.CLOSED else "Draft"

    @admin.display(description="Votes")
    def total_votes(self, poll: Poll) -> int | str:
        total = getattr(poll, "live_total", None)
        return "?" if total is None else total  # the totals could not be read

    @admin.display(description="Configuration")
    def pushed(self, poll: Poll) -> str:
        if poll.pushed_at is None:
            return "not pushed"
        changed = ", unpushed changes" if has_unpushed_changes(poll) else ""
        return f"version {poll.config_version}{changed}"

    @admin.display(description="Dashboard")
    def dashboard(self, poll: Poll) -> SafeString | str:
        if poll.dashboard_published_at is None:
            return "not published"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">open ↗</a>', public_url(poll)
        )

    # A poll's page.

    def get_fieldsets(self, request: HttpRequest, obj: Poll | None = None) -> list[Any]:
        poll_fields = [
            "question",
            "slug",
            "number",
            "keyword",
            "status",
            "opens_at",
            "closes_at",
            "votes_per_phone",
            "allow_vote_change",
            "confirm_votes",
            "channels",
            "retention_days",
            "expected_peak_votes_per_second",
        ]
        if request.user.is_superuser:
            poll_fields.insert(0, "owner")
        fieldsets: list[Any] = [
            (None, {"fields": poll_fields}),
            (
                "Replies to voters",
                {
                    "classes": ["collapse"],
                    "description": PLACEHOLDER_HELP,
                    "fields": list(REPLY_FIELDS.values()),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("In DynamoDB and Twilio", {"fields": _IN_DYNAMODB}))
            fieldsets.append(("Show plan", {"classes": ["collapse"], "fields": ["show_plan"]}))
            fieldsets.append(("Voided votes", {"fields": ["invalidations", "anomaly_report"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Poll | None = None) -> list[str]:
        readonly = [*_IN_DYNAMODB, "show_plan", "invalidations", "anomaly_report"]
        # The slug is the poll's id in DynamoDB: votes and totals are stored under it.
        if obj is not None:
            readonly.append("slug")
        # Once the ingest knows the poll, whether it takes votes changes only through the
        # actions, which push before they save: a form saves first, and a failed push would
        # leave the portal saying "closed" while the ingest goes on taking votes.
        if obj is not None and obj.pushed_at is not None:
            readonly += ["status", "opens_at", "closes_at"]
        return readonly

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Poll | None = None
    ) -> dict[str, Sequence[str]]:
        return {} if obj is not None else super().get_prepopulated_fields(request, obj)

    @admin.display(description="Configuration")
    def config_state(self, poll: Poll) -> str:
        if poll.pushed_at is None:
            return "not pushed (a poll is pushed when it opens, or by “Push configuration”)"
        pushed = f"version {poll.config_version}, pushed {_when(poll.pushed_at)}"
        if has_unpushed_changes(poll):
            return f"{pushed}; changed since: the ingest does not have the changes until a push"
        return f"{pushed}; up to date"

    @admin.display(description="Vote keys")
    def vote_keys(self, poll: Poll) -> str:
        count, planned = poll.vote_key_count(), poll.planned_vote_key_count()
        carries = f"up to {count * keys.VOTE_KEY_WRITES_PER_SECOND:,} votes/s"
        if poll.vote_shards is None:
            return f"{count} ({carries}), from the expected peak; chosen at the first push"
        if planned != count:
            return (
                f"{count} ({carries}); the expected peak asks for {planned}, which the next "
                "push gives the poll if it has no votes yet"
            )
        return f"{count} ({carries}); fixed once the poll has votes"

    @admin.display(description="Twilio webhook")
    def twilio_webhook(self, poll: Poll) -> str:
        wanted = settings.PUBLIC_WEBHOOK_URL
        if not poll.twilio_sms_url:
            return (
                f"Not set from the portal: “Configure Twilio number” points {poll.number} at "
                f"{wanted}."
            )
        when = _when(poll.twilio_configured_at)
        done = f"{poll.number} sends texts to {poll.twilio_sms_url} (set {when})"
        if poll.twilio_sms_url != wanted:
            return f"{done}; the webhook is now {wanted}: configure the number again."
        return done

    @admin.display(description="Public dashboard")
    def public_dashboard(self, poll: Poll) -> SafeString | str:
        if poll.dashboard_published_at is None:
            return "Not published: “Publish dashboard” uploads the results page to S3."
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a> (published {}; closing the '
            "poll republishes it as final results)",
            public_url(poll),
            public_url(poll),
            _when(poll.dashboard_published_at),
        )

    @admin.display(description="Results")
    def results(self, poll: Poll) -> str:
        try:
            document, error = results_document(read_results(poll)), ""
        except ResultsError as failure:
            document, error = None, str(failure)
        return render_to_string(
            "admin/polls/poll/results_panel.html",
            {
                "results": document,
                "error": error,
                "url": reverse("polls:results-json", args=[poll.pk]),
                "refresh_seconds": RESULTS_REFRESH_SECONDS,
            },
        )

    @admin.display(description="Plan")
    def show_plan(self, poll: Poll) -> str:
        """What a show at the poll's expected peak needs (polls/services/capacity.py)."""
        viewers = capacity.DEFAULT_VIEWERS
        try:
            plan, error = capacity.poll_plan(poll, viewers), ""
        except capacity.CapacityError as failure:
            plan, error = None, str(failure)
        command = (
            f"manage.py capacity {poll.slug} --votes-per-second "
            f"{poll.expected_peak_votes_per_second} --viewers {viewers}"
        )
        return render_to_string(
            "admin/polls/poll/capacity_panel.html",
            {"plan": plan, "error": error, "command": command},
        )

    @admin.display(description="Log")
    def invalidations(self, poll: Poll) -> str:
        """The poll's voids and unvoids, each void not undone with its "Unvoid" button."""
        entries = invalidation.log(poll)
        undone = {entry.undoes_id for entry in entries}
        rows = [
            (
                entry,
                invalidation.describe_selection(entry.selection),
                reverse("admin:polls_poll_unvoid", args=[poll.pk, entry.pk])
                if entry.action == Invalidation.Action.VOID and entry.pk not in undone
                else "",
            )
            for entry in entries
        ]
        return render_to_string(
            "admin/polls/poll/invalidations_panel.html",
            {
                "entries": rows,
                "void_url": reverse("admin:polls_poll_void", args=[poll.pk]),
                "slug": poll.slug,
            },
        )

    @admin.display(description="Anomalies")
    def anomaly_report(self, poll: Poll) -> SafeString:
        """A link to the poll's anomaly report: it reads every vote, so it runs when asked."""
        return format_html(
            '<a class="button" href="{}">Check for anomalies…</a> <span class="help">(rate '
            "spikes, region surges, frequent vote changes; or manage.py anomalies {})</span>",
            reverse("admin:polls_poll_anomalies", args=[poll.pk]),
            poll.slug,
        )

    @admin.display(description="Last recount")
    def last_recount(self, poll: Poll) -> str:
        if poll.last_recount_at is None:
            return f"never (manage.py recount {poll.slug})"
        when = _when(poll.last_recount_at)
        if not poll.last_recount_drift:
            return f"{when}: the totals equalled the votes"
        drift = ", ".join(f"{name} {n:+}" for name, n in poll.last_recount_drift.items())
        outcome = "repaired" if poll.last_recount_repaired else "not repaired"
        return f"{when}: drift {drift} ({outcome})"

    @admin.display(description="Last reconciliation")
    def reconciliation(self, poll: Poll) -> str:
        summary = poll.last_reconciliation
        if not summary:
            return f"never (“Reconcile with Twilio”, or manage.py reconcile {poll.slug})"
        when = _when(datetime.fromisoformat(summary["finished_at"]))
        return f"{when}: {describe_reconciliation(summary)}"

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Poll | None = None,
    ) -> HttpResponse:
        if obj is not None:
            actions = self.get_actions(request) if self.has_change_permission(request, obj) else {}
            context["poll_buttons"] = [
                (reverse("admin:polls_poll_run", args=[obj.pk, name]), label)
                for name, label in PAGE_ACTIONS
                if name in actions
            ]
            context["poll_links"] = [
                (reverse("polls:results-csv", args=[obj.pk]), "Results CSV", False),
                (reverse("polls:votes-csv", args=[obj.pk]), "Votes CSV", False),
                (reverse("polls:audit-pack-zip", args=[obj.pk]), "Audit pack (zip)", False),
            ]
            if obj.dashboard_published_at is not None:
                context["poll_links"].append((public_url(obj), "Dashboard ↗", True))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        run = path(
            "<path:object_id>/run/<str:action>/",
            self.admin_site.admin_view(self.run_action_view),
            name="polls_poll_run",
        )
        void = path(
            "<path:object_id>/void/",
            self.admin_site.admin_view(self.void_view),
            name="polls_poll_void",
        )
        unvoid = path(
            "<path:object_id>/unvoid/<int:void_id>/",
            self.admin_site.admin_view(self.unvoid_view),
            name="polls_poll_unvoid",
        )
        anomaly_page = path(
            "<path:object_id>/anomalies/",
            self.admin_site.admin_view(self.anomalies_view),
            name="polls_poll_anomalies",
        )
        # Before the admin's own: its "<path:object_id>/" would swallow these.
        return [run, void, unvoid, anomaly_page, *super().get_urls()]

    def _changeable_poll(self, request: HttpRequest, object_id: str) -> Poll:
        poll = self.get_object(request, unquote(object_id))
        if not isinstance(poll, Poll) or not self.has_change_permission(request, poll):
            raise Http404
        return poll

    def void_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The "Void votes…" page (admin_actions.void_votes_page)."""
        return admin_actions.void_votes_page(
            self, request, self._changeable_poll(request, object_id)
        )

    def anomalies_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The poll's anomaly report (polls/services/anomalies.py), each line linking to the
        void page's preview of its slice."""
        poll = self._changeable_poll(request, object_id)
        try:
            found, error = anomalies.anomalies(poll), ""
        except anomalies.AnomalyError as failure:
            found, error = [], str(failure)
        return TemplateResponse(
            request,
            "admin/polls/poll/anomalies.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Anomalies of “{poll}”",
                "opts": Poll._meta,
                "poll": poll,
                "error": error,
                "anomalies": [
                    (anomaly, anomalies.void_preview_path(poll, anomaly.selection))
                    for anomaly in found
                ],
            },
        )

    def unvoid_view(self, request: HttpRequest, object_id: str, void_id: int) -> HttpResponse:
        """A void's "Unvoid" button in the poll's log."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        poll = self._changeable_poll(request, object_id)
        admin_actions.unvoid_votes(self, request, poll, void_id)
        return redirect("admin:polls_poll_change", poll.pk)

    def run_action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """A button on a poll's page: the list action of that name, on this poll alone."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        poll = self.get_object(request, unquote(object_id))
        actions = self.get_actions(request)
        if poll is None or action not in actions or action not in dict(PAGE_ACTIONS):
            raise Http404
        response = actions[action][0](self, request, self.get_queryset(request).filter(pk=poll.pk))
        return response or redirect("admin:polls_poll_change", poll.pk)

    # Saving, pushing and deleting.

    def save_model(self, request: HttpRequest, obj: Poll, form: ModelForm, change: bool) -> None:
        if not change and not request.user.is_superuser:
            assert isinstance(request.user, User)  # the admin serves signed-in staff only
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        poll: Poll = form.instance
        # Push once the categories are saved: a poll created open, or any poll the ingest
        # already knows (its questions, replies and categories may have changed).
        if poll.status == PollStatus.OPEN or poll.pushed_at is not None:
            admin_actions.push(self, request, poll)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Deleting a poll takes its data out of DynamoDB and may be refused
        # (lifecycle.delete_poll): one poll at a time, from its page, so a refusal is never
        # lost in a bulk delete.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except DeletionRefused as refusal:  # raised inside the view's transaction: rolled back
            if refusal.started_at is not None:
                # Steps done in AWS stay done: keep the mark the rollback undid.
                Poll.objects.filter(pk=object_id).update(deletion_started_at=refusal.started_at)
            self.message_user(request, str(refusal), messages.ERROR)
            return redirect("admin:polls_poll_change", object_id)

    def delete_model(self, request: HttpRequest, obj: Poll) -> None:
        """lifecycle.delete_poll; a refusal becomes DeletionRefused, which delete_view turns
        into a message after the view's transaction (its log entry) is rolled back."""
        try:
            deleted = lifecycle.delete_poll(obj)
        except lifecycle.DeletionUnfinished as error:
            raise DeletionRefused(
                f"“{obj}” is not fully deleted: {error}.", error.started_at
            ) from None
        except lifecycle.LifecycleError as error:
            raise DeletionRefused(f"“{obj}” was not deleted: {error}.") from None
        if deleted.erased_votes:
            self.message_user(
                request, f"Deleted the {deleted.erased_votes} votes of “{obj}” and its totals."
            )
        if deleted.unpublish_error:
            self.message_user(
                request,
                f"The results page of “{obj}” is still public ({deleted.unpublish_error}); "
                f"delete polls/{obj.slug}/ from the dashboard bucket by hand.",
                messages.WARNING,
            )


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    """The Twilio account's numbers and the organiser each belongs to: superusers only.

    "Sync numbers from Twilio" lists them from the account; a superuser then picks each one's
    owner, whose polls alone may use it (models.may_use_number).
    """

    list_display = ("number", "owner", "twilio_sid")
    list_filter = ("owner",)
    search_fields = ("number",)
    fields = ("number", "owner", "twilio_sid")
    readonly_fields = ("twilio_sid",)
    change_list_template = "admin/polls/phonenumber/change_list.html"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: PhoneNumber | None = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: PhoneNumber | None = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: PhoneNumber | None = None) -> bool:
        return request.user.is_superuser

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            kwargs["queryset"] = User.objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_urls(self) -> list[URLPattern]:
        sync = path(
            "sync/", self.admin_site.admin_view(self.sync_view), name="polls_phonenumber_sync"
        )
        return [sync, *super().get_urls()]

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """The "Sync numbers from Twilio" button: twilio_numbers.sync_phone_numbers."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.is_superuser:
            raise PermissionDenied
        try:
            synced = sync_phone_numbers()
        except TwilioError as error:
            self.message_user(
                request, f"The numbers were not synced from Twilio: {error}.", messages.ERROR
            )
            return redirect("admin:polls_phonenumber_changelist")
        added = ", ".join(synced.added) or "none"
        self.message_user(
            request,
            f"Synced the numbers of the Twilio account. New: {added}; new SIDs: "
            f"{len(synced.updated)}. Assign each new number to its organiser.",
            messages.SUCCESS,
        )
        if synced.missing:
            self.message_user(
                request,
                f"No longer in the Twilio account: {', '.join(synced.missing)}. Polls cannot "
                "be configured there; delete a number once no poll uses it.",
                messages.WARNING,
            )
        return redirect("admin:polls_phonenumber_changelist")


class DeletionRefused(Exception):
    """A deletion lifecycle.delete_poll refused, worded for the organiser; `started_at` when
    it stopped half-way (lifecycle.DeletionUnfinished)."""

    def __init__(self, message: str, started_at: datetime | None = None) -> None:
        super().__init__(message)
        self.started_at = started_at


def _when(moment: datetime | None) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}" if moment else ""
