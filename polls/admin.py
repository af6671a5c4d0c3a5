"""The organisers' portal: polls with their categories, pushed to DynamoDB on save.

Organisers are staff users who see and change only their own polls; superusers see all.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm, TextInput, ValidationError
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from lambdas.shared.config_doc import PollStatus
from polls.models import REPLY_FIELDS, Category, Poll
from polls.services.config_push import PushError, push_config, withdraw_config
from polls.services.results import ResultsError, read_results
from polls.validation import find_clashes, split_aliases

MIN_CATEGORIES_TO_OPEN = 2
PLACEHOLDER_HELP = (
    "Blank fields send the default text. Placeholders: {label} and {code} (the vote's "
    "category), {question}, {choices} (codes with labels), {codes}."
)


class CategoryFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        forms = [
            form for form in self.forms if form.cleaned_data and not self._should_delete_form(form)
        ]
        rows = [
            (form.cleaned_data.get("code", ""), split_aliases(form.cleaned_data.get("aliases", "")))
            for form in forms
        ]
        for clash in find_clashes(rows, keyword=self.instance.keyword):
            forms[clash.row].add_error(clash.field, clash.message)
        if self.instance.status == PollStatus.OPEN and len(forms) < MIN_CATEGORIES_TO_OPEN:
            raise ValidationError(
                f"An open poll needs at least {MIN_CATEGORIES_TO_OPEN} categories to choose from."
            )


class CategoryForm(ModelForm):
    class Meta:
        model = Category
        fields = ("label", "code", "aliases", "colour", "order")
        # The browser's colour picker always sends #rrggbb, the format the validator wants.
        widgets = {"colour": TextInput(attrs={"type": "color"})}


class CategoryInline(admin.TabularInline):
    model = Category
    form = CategoryForm
    formset = CategoryFormSet
    fields = ("label", "code", "aliases", "colour", "order")

    def get_extra(self, request: HttpRequest, obj: Poll | None = None, **kwargs: Any) -> int:
        return 0 if obj else 3


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    inlines = [CategoryInline]
    list_display = ("question", "slug", "number", "status", "config_state")
    list_filter = ("status",)
    search_fields = ("question", "slug")
    actions = ["push_configuration"]
    prepopulated_fields = {"slug": ("question",)}

    # Ownership: non-superusers only ever reach their own polls.

    def get_queryset(self, request: HttpRequest) -> QuerySet[Poll]:
        polls = super().get_queryset(request).select_related("owner")
        if request.user.is_superuser:
            return polls
        return polls.filter(owner=request.user)

    def _may_touch(self, request: HttpRequest, poll: Poll | None) -> bool:
        return poll is None or request.user.is_superuser or poll.owner_id == request.user.pk

    def has_view_permission(self, request: HttpRequest, obj: Poll | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._may_touch(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Poll | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Poll | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    # The form.

    def get_fieldsets(self, request: HttpRequest, obj: Poll | None = None) -> list[Any]:
        poll_fields = [
            "question",
            "slug",
            "number",
            "keyword",
            "status",
            "opens_at",
            "closes_at",
            "allow_vote_change",
            "confirm_votes",
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
            fieldsets.append(
                (
                    "In DynamoDB",
                    {"fields": ["config_state", "twilio_webhook", "results", "last_recount"]},
                )
            )
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Poll | None = None) -> list[str]:
        readonly = ["config_state", "twilio_webhook", "results", "last_recount"]
        # The slug is the poll's id in DynamoDB: votes and totals are stored under it.
        if obj is not None:
            readonly.append("slug")
        return readonly

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Poll | None = None
    ) -> dict[str, tuple[str, ...]]:
        return {} if obj is not None else super().get_prepopulated_fields(request, obj)

    @admin.display(description="Configuration")
    def config_state(self, poll: Poll) -> str:
        if poll.pushed_at is None:
            return "not pushed"
        return f"version {poll.config_version}, pushed {poll.pushed_at:%Y-%m-%d %H:%M} UTC"

    @admin.display(description="Twilio webhook")
    def twilio_webhook(self, poll: Poll) -> str:
        return f"Set the incoming-message webhook of {poll.number} to {settings.PUBLIC_WEBHOOK_URL}"

    @admin.display(description="Results")
    def results(self, poll: Poll) -> SafeString | str:
        try:
            results = read_results(poll)
        except ResultsError as error:
            return f"Results are unavailable: {error}."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((row.code, row.label, row.votes) for row in results.rows),
        )
        updated = (
            f"{results.updated_at:%Y-%m-%d %H:%M:%S}" if results.updated_at else "no votes yet"
        )
        return format_html(
            "<table><thead><tr><th>Code</th><th>Category</th><th>Votes</th></tr></thead>"
            "<tbody>{}</tbody><tfoot><tr><th colspan='2'>Total</th><th>{}</th></tr></tfoot>"
            "</table><p>Last vote counted: {}</p>",
            rows,
            results.total,
            updated,
        )

    @admin.display(description="Last recount")
    def last_recount(self, poll: Poll) -> str:
        if poll.last_recount_at is None:
            return f"never (manage.py recount {poll.slug})"
        when = f"{poll.last_recount_at:%Y-%m-%d %H:%M} UTC"
        if not poll.last_recount_drift:
            return f"{when}: the totals equalled the votes"
        drift = ", ".join(f"{name} {n:+}" for name, n in poll.last_recount_drift.items())
        outcome = "repaired" if poll.last_recount_repaired else "not repaired"
        return f"{when}: drift {drift} ({outcome})"

    # Saving, pushing and deleting.

    def save_model(self, request: HttpRequest, obj: Poll, form: ModelForm, change: bool) -> None:
        if not change and not request.user.is_superuser:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        poll: Poll = form.instance
        # Push once the categories are saved. A poll already in DynamoDB is pushed whatever
        # its status, so closing it or taking it back to draft reaches the ingest too.
        if poll.status == PollStatus.OPEN or poll.pushed_at is not None:
            self._push(request, poll)

    @admin.action(description="Push configuration to DynamoDB", permissions=["change"])
    def push_configuration(self, request: HttpRequest, queryset: QuerySet[Poll]) -> None:
        for poll in queryset:
            self._push(request, poll)

    def _push(self, request: HttpRequest, poll: Poll) -> None:
        try:
            version = push_config(poll)
        except PushError as error:
            self.message_user(
                request, f"“{poll}” was not pushed to DynamoDB: {error}.", messages.ERROR
            )
        else:
            self.message_user(
                request,
                f"Pushed version {version} of “{poll}” to DynamoDB.",
                messages.SUCCESS,
            )

    def delete_model(self, request: HttpRequest, obj: Poll) -> None:
        self._withdraw(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Poll]) -> None:
        for poll in queryset:
            self._withdraw(request, poll)
        super().delete_queryset(request, queryset)

    def _withdraw(self, request: HttpRequest, poll: Poll) -> None:
        # A deleted poll left in the config table would go on taking votes.
        try:
            withdraw_config(poll)
        except PushError as error:
            self.message_user(
                request,
                f"The configuration of “{poll}” is still in DynamoDB ({error}); delete the "
                f"item {poll.pushed_number} / {poll.slug} from the config table by hand.",
                messages.WARNING,
            )
