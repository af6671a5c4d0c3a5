"""Polls and their categories, as organisers edit them; DynamoDB gets them via to_config()."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from lambdas.shared.config_doc import CategoryConfig, PollConfig, PollStatus
from lambdas.shared.parsing import normalise
from lambdas.shared.replies import DEFAULT_REPLIES, MAX_REPLY_CHARS, Reply
from polls.validation import (
    split_aliases,
    validate_aliases,
    validate_code,
    validate_colour,
    validate_e164,
    validate_keyword,
)

# Longer is a typo for "keep them": leave the field blank for that.
MAX_RETENTION_DAYS = 3650
SLUG_MAX_LENGTH = 50

# Every reply a poll may override, and its field. NO_POLL is sent when no poll matched, so
# no poll can override it.
REPLY_FIELDS: dict[Reply, str] = {
    reply: f"reply_{reply.value}" for reply in Reply if reply is not Reply.NO_POLL
}


def _reply_field(reply: Reply) -> models.TextField:
    return models.TextField(
        blank=True,
        max_length=MAX_REPLY_CHARS,
        help_text=f"Blank sends the default: “{DEFAULT_REPLIES[reply]}”",
    )


class Poll(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="polls"
    )
    question = models.CharField(max_length=200)
    slug = models.SlugField(
        unique=True,
        max_length=SLUG_MAX_LENGTH,
        help_text="The poll's id in DynamoDB and in exports. It cannot change once saved.",
    )
    number = models.CharField(
        max_length=16,
        validators=[validate_e164],
        help_text="The Twilio number voters text, in E.164 form (+15005550006).",
    )
    keyword = models.CharField(
        max_length=30,
        blank=True,
        validators=[validate_keyword],
        help_text="Optional single word voters start with (PIZZA 2), so several polls can "
        "share a number.",
    )
    status = models.CharField(
        max_length=10,
        choices=[(status.value, status.value.capitalize()) for status in PollStatus],
        default=PollStatus.DRAFT.value,
    )
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    allow_vote_change = models.BooleanField(
        default=False, help_text="A voter's later vote replaces their earlier one."
    )
    confirm_votes = models.BooleanField(
        default=True, help_text="Send a confirmation SMS for each vote."
    )
    retention_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Delete each vote this many days after it arrives; the totals stay. Blank "
        "keeps the votes until they are purged (manage.py purge_votes).",
    )

    reply_confirmed = _reply_field(Reply.CONFIRMED)
    reply_already_voted = _reply_field(Reply.ALREADY_VOTED)
    reply_changed = _reply_field(Reply.CHANGED)
    reply_help = _reply_field(Reply.HELP)
    reply_unknown = _reply_field(Reply.UNKNOWN)
    reply_too_long = _reply_field(Reply.TOO_LONG)
    reply_not_open_yet = _reply_field(Reply.NOT_OPEN_YET)
    reply_closed = _reply_field(Reply.CLOSED)

    config_version = models.PositiveIntegerField(default=0, editable=False)
    pushed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The number the config was last pushed under: after a number change, the item under the
    # old number must be deleted or the old number keeps taking votes.
    pushed_number = models.CharField(max_length=16, blank=True, editable=False)
    # SHA-256 of the document last pushed: the change page compares it with to_config() to
    # say whether the poll has changes the ingest has not seen yet.
    pushed_hash = models.CharField(max_length=64, blank=True, editable=False)
    # What the portal last set as the number's SMS webhook on Twilio, and when.
    twilio_sms_url = models.CharField(max_length=500, blank=True, editable=False)
    twilio_configured_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The last `recount`: when, the drift it found (aggregate attribute -> stored minus
    # counted; empty when the totals were exact) and whether it repaired it.
    last_recount_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_recount_drift = models.JSONField(default=dict, blank=True, editable=False)
    last_recount_repaired = models.BooleanField(default=False, editable=False)
    # Part of the voter keys' HMAC input: rotating it (admin action) gives every voter of the
    # poll a new key that cannot be linked to the old one.
    voter_key_version = models.PositiveSmallIntegerField(default=1, editable=False)
    # When the public results page was last uploaded; closing republishes a published page.
    dashboard_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.question

    def clean(self) -> None:
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": "The poll must close after it opens."})
        self._check_number_sharing()
        if self.status == PollStatus.OPEN and self.keyword:
            clash = self.routing_clash(keyword=self.keyword)
            if clash:
                raise ValidationError({"keyword": clash})

    def routing_clash(self, keyword: str = "", spellings: Iterable[str] = ()) -> str:
        """Why texts for another poll on this number would reach this one, or the other way
        round, given this poll's keyword or its codes and aliases; "" when they would not.

        The ingest picks a number's poll by the message's first word (parsing.select_poll):
        a keyword that is the first word of a code or alias of a poll without a keyword
        takes that poll's votes, whatever the status (closed polls stay configured).
        """
        first_words = {word for word in map(_first_word, spellings) if word}
        wanted = normalise(keyword)
        others = (
            Poll.objects.filter(number=self.number)
            .exclude(pk=self.pk)
            .exclude(status=PollStatus.DRAFT, pushed_at__isnull=True)  # not in DynamoDB
            .prefetch_related("categories")
        )
        for other in others:
            theirs = normalise(other.keyword)
            if wanted and not theirs:
                other_words = {_first_word(s) for c in other.categories.all() for s in c.spellings}
                if wanted in other_words:
                    return (
                        f"Another poll on {self.number} has no keyword and a choice starting "
                        f"with “{keyword}”: its voters' texts would come to this poll. "
                        "Choose another keyword."
                    )
            if not self.keyword and theirs and theirs in first_words:
                return (
                    f"Another poll on {self.number} has the keyword “{other.keyword}”: texts "
                    f"starting with it go to that poll. Use another code or alias."
                )
        return ""

    def _check_number_sharing(self) -> None:
        # The ingest picks a number's poll by keyword, then prefers the open one
        # (parsing.select_poll): two open polls there with the same keyword, or both without,
        # would leave voters' messages matching neither.
        if not self.number or self.status != PollStatus.OPEN:
            return
        keyword = normalise(self.keyword)
        others = Poll.objects.filter(number=self.number, status=PollStatus.OPEN).exclude(pk=self.pk)
        if any(normalise(other) == keyword for other in others.values_list("keyword", flat=True)):
            why = f"keyword {self.keyword!r}" if keyword else "no keyword"
            raise ValidationError(
                {
                    "keyword": f"Another open poll on {self.number} already has {why}; "
                    "give each open poll on a shared number its own keyword."
                }
            )

    def to_config(self) -> PollConfig:
        """The configuration document of this poll as saved, at its current version."""
        replies: dict[str, str] = {}
        for reply, field in REPLY_FIELDS.items():
            text = getattr(self, field).strip()
            if text:
                replies[reply.value] = text
        return PollConfig(
            poll_id=self.slug,
            number=self.number,
            question=self.question,
            categories=tuple(category.to_config() for category in self.categories.all()),
            status=PollStatus(self.status),
            keyword=self.keyword,
            opens_at=_utc(self.opens_at),
            closes_at=_utc(self.closes_at),
            allow_vote_change=self.allow_vote_change,
            confirm_votes=self.confirm_votes,
            replies=replies,
            version=self.config_version,
            retention_days=self.retention_days,
            voter_key_version=self.voter_key_version,
        )


def _first_word(spelling: str) -> str:
    return next(iter(normalise(spelling).split()), "")


def _utc(value: datetime | None) -> datetime | None:
    # One spelling per instant, whatever time zone a form saved it in, so equal polls give
    # equal documents (and equal hashes).
    return value.astimezone(UTC) if value is not None else None


class Category(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="categories")
    label = models.CharField(max_length=100)
    code = models.CharField(
        max_length=20, validators=[validate_code], help_text="What voters text, e.g. A."
    )
    aliases = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_aliases],
        help_text="Other spellings that count for this category, separated by commas.",
    )
    colour = models.CharField(max_length=7, default="#3b82f6", validators=[validate_colour])
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("order", "id")
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["poll", "code"], name="unique_category_code_per_poll")
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.label}"

    @property
    def alias_list(self) -> tuple[str, ...]:
        return split_aliases(self.aliases)

    @property
    def spellings(self) -> tuple[str, ...]:
        """What a voter may text for this category: its code and its aliases."""
        return (self.code, *self.alias_list)

    def to_config(self) -> CategoryConfig:
        return CategoryConfig(code=self.code, label=self.label, aliases=self.alias_list)
