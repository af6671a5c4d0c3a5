"""The admin's forms: a poll's categories, and the schedule of the "Schedule" action."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.forms import BaseInlineFormSet, ModelForm, TextInput, ValidationError
from django.utils import timezone

from lambdas.shared.config_doc import PollStatus, VotingState
from polls.colours import PALETTE, next_colour
from polls.models import Category
from polls.services.config_push import PushError, vote_keys_refusal, votes_per_phone_refusal
from polls.services.lifecycle import MIN_CATEGORIES_TO_OPEN
from polls.services.results import ResultsError, read_votes_per_category
from polls.validation import find_clashes, split_aliases


class PollForm(ModelForm):
    """A poll's own fields. A new poll of an organiser (whose form has no owner field) is
    theirs before it is validated, so the model's checks (may_use_number) know whose it is."""

    new_poll_owner: AbstractBaseUser | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.owner_id is None and self.new_poll_owner is not None:
            self.instance.owner = self.new_poll_owner

    def clean(self) -> dict[str, Any]:
        # A changed expected peak may change the poll's vote keys, a changed allowance how its
        # votes are stored: refused once it has votes.
        super().clean()
        data = self.cleaned_data
        checks = (
            ("expected_peak_votes_per_second", vote_keys_refusal, "its vote keys"),
            ("votes_per_phone", votes_per_phone_refusal, "its votes per phone"),
        )
        for name, refusal_of, what in checks:
            value = data.get(name)
            if value is None or name not in self.changed_data:
                continue
            try:
                refusal = refusal_of(self.instance, value)
            except PushError as error:
                refusal = f"whether the poll has votes is unknown ({error}), so {what} "
                refusal += "cannot change now; try again"
            if refusal:
                self.add_error(name, f"{refusal[:1].upper()}{refusal[1:]}.")
        return data

    @classmethod
    def owned_by(cls, owner: AbstractBaseUser) -> type[PollForm]:
        """This form (or a form the admin built from it) for new polls of `owner`."""
        return type(cls.__name__, (cls,), {"new_poll_owner": owner})


class CategoryForm(ModelForm):
    class Meta:
        model = Category
        fields = ("label", "code", "aliases", "colour", "order")
        # The browser's colour picker always sends #rrggbb, the format the validator wants.
        widgets = {"colour": TextInput(attrs={"type": "color"})}
        # What the ingest accepts (parsing.parse_message; README "What voters can send").
        help_texts = {
            "code": "What voters text, e.g. A: letters or digits. Any case, with punctuation "
            "or emoji around it (A ❤️, ☑️ A); a keycap emoji counts as its digit (2️⃣ is 2). "
            "With several votes per phone, a number before or after it gives that many votes "
            "(A 3, 3 A).",
            "aliases": "Other spellings that count for this category, separated by commas. "
            "An alias may be emoji only (🍕): a text of emoji counts for it whatever skin tone "
            "or marks the phone adds (🍕🏽, 🍕 ❤️); next to letters or digits, emoji only "
            "decorate. Spellings that read the same (A and a., 🍕 and 🍕🏽) are refused.",
        }

    def __init__(
        self, *args: Any, upcoming_colours: list[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if upcoming_colours:
            self.fields["colour"].widget.attrs["data-upcoming"] = " ".join(upcoming_colours)

    def has_changed(self) -> bool:
        """A new row with nothing but its suggested colour is a blank row, left out; the
        colour the admin's script gives an added row (category_colours.js) may not be the
        one this form suggested."""
        if self.instance.pk is None:
            return bool(set(self.changed_data) - {"colour"})
        return super().has_changed()


class CategoryFormSet(BaseInlineFormSet):
    """A poll's categories. A new row suggests the next unused palette colour
    (colours.next_colour) after the poll's categories and the new rows above it; the rows
    "Add another" makes take the colours after those in turn (category_colours.js reads
    them from the template row's colour field, data-upcoming)."""

    def _suggested_colours(self, count: int) -> list[str]:
        used = [category.colour for category in self.get_queryset()]
        suggested: list[str] = []
        for _ in range(count):
            suggested.append(next_colour(used + suggested))
        return suggested

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_form_kwargs(index)
        new_rows = self.total_form_count() - self.initial_form_count()
        if index is None:  # the template row "Add another" copies
            upcoming = self._suggested_colours(new_rows + len(PALETTE))[new_rows:]
            kwargs["initial"] = {"colour": upcoming[0]}
            kwargs["upcoming_colours"] = upcoming
        elif index >= self.initial_form_count():
            new_row = index - self.initial_form_count()
            kwargs["initial"] = {"colour": self._suggested_colours(new_row + 1)[new_row]}
        return kwargs

    def clean(self) -> None:
        super().clean()
        forms = [
            form
            for form in self.forms
            # django-stubs leaves out this private BaseFormSet method.
            if form.cleaned_data and not self._should_delete_form(form)  # type: ignore[attr-defined]
        ]
        rows = [
            (form.cleaned_data.get("code", ""), split_aliases(form.cleaned_data.get("aliases", "")))
            for form in forms
        ]
        clashes = find_clashes(
            rows, keyword=self.instance.keyword, votes_per_phone=self.instance.votes_per_phone
        )
        for clash in clashes:
            forms[clash.row].add_error(clash.field, clash.message)
        # Whatever the poll's status: a closed poll's choices still route texts.
        for form, (code, aliases) in zip(forms, rows, strict=True):
            clash = self.instance.routing_clash(spellings=(code, *aliases))
            if clash:
                form.add_error("code", clash)
        errors = self._votes_kept()
        if self.instance.status == PollStatus.OPEN and len(forms) < MIN_CATEGORIES_TO_OPEN:
            errors.append(
                f"An open poll needs at least {MIN_CATEGORIES_TO_OPEN} categories to choose from."
            )
        if errors:
            raise ValidationError(errors)

    def _votes_kept(self) -> list[str]:
        """Refusals for deleting or recoding a category that has votes.

        Votes are stored, and counted, under the category's code: a category that goes
        away or changes code would leave them counted under nothing the poll knows. The label
        can always change. (Deleted rows skip form validation, so these are the formset's.)
        """
        touched: dict[str, str] = {}
        for form in self.initial_forms:
            code = form.initial.get("code", "")
            if self._should_delete_form(form):  # type: ignore[attr-defined]  # (as above)
                touched[code] = "deleted"
            elif form.has_changed() and "code" in form.changed_data:
                touched[code] = "given another code"
        if not touched:
            return []
        if self.instance.to_config().voting_state(timezone.now()) == VotingState.ACCEPTING:
            # Its totals lag the votes, and the ingest keeps the old codes for a few seconds.
            return [
                "Categories cannot be deleted or recoded while the poll takes votes: a vote "
                "for one may be on its way. Close the poll first, or change labels only."
            ]
        try:
            votes = read_votes_per_category(self.instance)
        except ResultsError as error:
            return [
                f"Categories cannot be deleted or recoded now: their votes are unknown ({error})."
            ]
        return [
            f"Category {code} has {votes[code]} vote{'s' if votes[code] != 1 else ''}, so it "
            f"cannot be {what}: its votes are stored under the code {code}. Change its label "
            "instead."
            for code, what in touched.items()
            if votes.get(code, 0)
        ]


class ScheduleForm(forms.Form):
    """When the selected polls open and close (times in the portal's time zone)."""

    opens_at = forms.DateTimeField(
        required=False,
        label="Opens at",
        help_text="Blank: open now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    closes_at = forms.DateTimeField(
        required=False,
        label="Closes at",
        help_text="Blank: stay open until closed by hand.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        opens_at, closes_at = data.get("opens_at"), data.get("closes_at")
        if opens_at is None and closes_at is None and not self.errors:
            raise ValidationError("Give an opening time, a closing time or both.")
        if opens_at and closes_at and closes_at <= opens_at:
            self.add_error("closes_at", "The poll must close after it opens.")
        return data
