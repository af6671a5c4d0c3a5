"""Polls and their categories, as organisers edit them; DynamoDB gets them via to_config()."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from lambdas.shared import keys
from lambdas.shared.channels import PollChannels
from lambdas.shared.config_doc import (
    MAX_VOTES_PER_PHONE,
    CategoryConfig,
    InvalidConfig,
    PollConfig,
    PollStatus,
)
from lambdas.shared.replies import (
    DEFAULT_REPLIES,
    MAX_REPLY_CHARS,
    NUMBER_REPLIES,
    Reply,
    unfillable_placeholders,
)
from polls.colours import PALETTE
from polls.validation import (
    Routing,
    keyword_clash,
    spelling_clash,
    split_aliases,
    validate_aliases,
    validate_code,
    validate_colour,
    validate_e164,
    validate_keyword,
)

# Longer is a typo for "keep them": leave the field blank for that.
MAX_RETENTION_DAYS = 3650
# What an organiser may plan a poll for, in votes a second: the default needs 2 vote keys, the
# most 1,024 (keys.MAX_VOTE_SHARDS keys at keys.VOTE_KEY_WRITES_PER_SECOND).
DEFAULT_PEAK_VOTES_PER_SECOND = 1000
MAX_PEAK_VOTES_PER_SECOND = 500_000
SLUG_MAX_LENGTH = 50

# Every reply a poll may override, and its field. NUMBER_REPLIES are sent when no poll took
# the message, so no poll can override them.
REPLY_FIELDS: dict[Reply, str] = {
    reply: f"reply_{reply.value}" for reply in Reply if reply not in NUMBER_REPLIES
}


def _reply_field(reply: Reply) -> models.TextField:
    return models.TextField(
        blank=True,
        max_length=MAX_REPLY_CHARS,
        help_text=f"Blank sends the default: “{DEFAULT_REPLIES[reply]}”",
    )


class PhoneNumber(models.Model):
    """A number of the Twilio account, and the organiser it belongs to.

    A superuser lists the account's numbers ("Sync numbers from Twilio") and assigns each to
    an organiser; an organiser creates polls on, and configures, only their own numbers
    (may_use_number), so nobody can take over the number another organiser's show runs on.
    """

    number = models.CharField(max_length=16, unique=True, validators=[validate_e164])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="phone_numbers",
        help_text="The organiser whose polls may use this number. Blank: nobody's yet.",
    )
    # Twilio's id of the number (its IncomingPhoneNumber SID), from the last sync.
    twilio_sid = models.CharField(max_length=34, blank=True, editable=False)

    class Meta:
        ordering = ("number",)

    def __str__(self) -> str:
        return self.number


def may_use_number(user: AbstractBaseUser, number: str) -> bool:
    """Whether `user`'s polls may run on `number`: it is assigned to them, or they are a
    superuser (who assigns numbers)."""
    if getattr(user, "is_superuser", False):
        return True
    return PhoneNumber.objects.filter(number=number, owner_id=user.pk).exists()


def number_refusal(number: str) -> str:
    """What an organiser reads when a number is not theirs (one clause, no full stop)."""
    return (
        f"{number} is not one of your Twilio numbers: ask an administrator to assign it to you "
        "(Phone numbers, in the admin)"
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
    votes_per_phone = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_VOTES_PER_PHONE)],
        help_text="How many votes each phone has. 1: one vote, which “allow vote change” lets "
        "the voter change. More: the voter splits them across choices as they like, in "
        "messages of one vote (A) or of several (A 3, 3 A); a message giving more votes than "
        "are left is refused, with a reply saying how many are left, and no vote is ever "
        "changed. Between 1 and more it can change only until the poll has votes.",
    )
    confirm_votes = models.BooleanField(
        default=True, help_text="Send a confirmation reply (by SMS or WhatsApp) for each vote."
    )
    channels = models.CharField(
        max_length=10,
        choices=[
            (PollChannels.BOTH.value, "SMS and WhatsApp"),
            (PollChannels.SMS.value, "SMS only"),
            (PollChannels.WHATSAPP.value, "WhatsApp only"),
        ],
        default=PollChannels.BOTH.value,
        help_text="How voters may send their vote to the number: by SMS, on WhatsApp (the "
        "number must be enabled for WhatsApp on Twilio), or both. A phone has one vote "
        "whichever it uses; a vote by a channel the poll does not take gets a reply naming the "
        "one it does.",
    )
    retention_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Delete the votes this many days after the poll closes (it then needs a "
        "closing time); the totals stay. Blank keeps the votes until they are purged "
        "(manage.py purge_votes).",
    )
    expected_peak_votes_per_second = models.PositiveIntegerField(
        "expected peak (votes per second)",
        default=DEFAULT_PEAK_VOTES_PER_SECOND,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PEAK_VOTES_PER_SECOND)],
        help_text="The most votes a second the show may bring. It sets how many keys the "
        f"votes are spread over ({keys.VOTE_KEY_WRITES_PER_SECOND} votes/s each, at the next "
        "push), and can change only until the poll has votes: then the keys are fixed.",
    )
    # How many keys its votes are spread over (PollConfig.vote_shards), as last pushed: set by
    # the first push (from the expected peak), changed by a later push only while the poll has
    # no votes. None before the first push.
    vote_shards = models.PositiveSmallIntegerField(null=True, editable=False)
    # When its votes start to be removed (PollConfig.votes_expire_at): fixed by the first push
    # that opens it with a retention period, brought forward by a purge, never moved later.
    votes_expire_at = models.DateTimeField(null=True, blank=True, editable=False)

    reply_confirmed = _reply_field(Reply.CONFIRMED)
    reply_already_voted = _reply_field(Reply.ALREADY_VOTED)
    reply_changed = _reply_field(Reply.CHANGED)
    reply_change_limit = _reply_field(Reply.CHANGE_LIMIT)
    reply_help = _reply_field(Reply.HELP)
    reply_unknown = _reply_field(Reply.UNKNOWN)
    reply_too_long = _reply_field(Reply.TOO_LONG)
    reply_not_open_yet = _reply_field(Reply.NOT_OPEN_YET)
    reply_closed = _reply_field(Reply.CLOSED)
    reply_wrong_channel = _reply_field(Reply.WRONG_CHANNEL)
    reply_votes_counted = _reply_field(Reply.VOTES_COUNTED)
    reply_limit_reached = _reply_field(Reply.LIMIT_REACHED)
    reply_not_enough_left = _reply_field(Reply.NOT_ENOUGH_LEFT)
    reply_bad_count = _reply_field(Reply.BAD_COUNT)

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
    # The last reconciliation against Twilio's message log (polls/services/reconcile.py,
    # Reconciliation.summary: when, and how many messages it found counted, lost, recovered…);
    # empty: never.
    last_reconciliation = models.JSONField(default=dict, blank=True, editable=False)
    # Part of the voter keys' HMAC input: rotating it (admin action) gives every voter of the
    # poll a new key that cannot be linked to the old one.
    voter_key_version = models.PositiveSmallIntegerField(default=1, editable=False)
    # When the public results page was last uploaded; closing republishes a published page.
    dashboard_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When its deletion started (lifecycle.delete_poll): from then on it is never pushed again,
    # and deleting it again finishes what a failed step left.
    deletion_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.question

    def clean(self) -> None:
        if RetiredSlug.objects.filter(slug=self.slug).exists():
            raise ValidationError(
                {"slug": "A deleted poll had this slug; slugs are never reused. Choose another."}
            )
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": "The poll must close after it opens."})
        unfillable = {
            field: sorted(unfillable_placeholders(reply, getattr(self, field)))
            for reply, field in REPLY_FIELDS.items()
        }
        if any(unfillable.values()):
            raise ValidationError(
                {
                    field: "This reply never knows the phone's votes, so it can't fill "
                    + ", ".join(f"{{{name}}}" for name in names)
                    + ": voters would read them as typed."
                    for field, names in unfillable.items()
                    if names
                }
            )
        if self.allow_vote_change and self.votes_per_phone > 1:
            raise ValidationError(
                {
                    "allow_vote_change": "A vote can be changed only with one vote per phone: "
                    f"with {self.votes_per_phone}, voters split their votes as they like and "
                    "no vote is changed. Untick it, or set votes per phone to 1."
                }
            )
        if self.status == PollStatus.OPEN:
            self._check_votes_can_be_taken()
        # An organiser's new poll has its owner before validation (forms.PollForm).
        if self.number and self.owner_id and not may_use_number(self.owner, self.number):
            raise ValidationError({"number": f"{number_refusal(self.number)}."})
        if self.number:
            routing = Routing(
                self.keyword, (), self.status == PollStatus.OPEN, self.votes_per_phone > 1
            )
            clash = keyword_clash(self.number, routing, self._others_on_number())
            if clash:
                raise ValidationError({"keyword": clash})

    def vote_key_count(self) -> int:
        """How many vote keys (keys.vote_partitions) the poll's votes are under: as last
        pushed, or, before its first push, as its expected peak plans them. Every reader of
        its votes, and its configuration document, takes the count from here."""
        return self.vote_shards or self.planned_vote_key_count()

    def votes_per_phone_in_force(self) -> int:
        """How many votes per phone the ingest gives its voters: as last pushed (so its votes
        are stored one per voter with 1, as a tally per voter with more: lambdas.ingest.votes),
        or, before its first push, as saved. A saved value can differ from the pushed one
        until the next push; every reader of its votes and totals takes it from here."""
        if self.pushed_at is None:
            return self.votes_per_phone
        last = self.config_pushes.order_by("-version").first()
        if last is None:
            return 1  # pushed before pushes were recorded, which predates the setting
        try:
            return PollConfig.from_json(last.document).votes_per_phone
        except InvalidConfig:
            return self.votes_per_phone

    def planned_vote_key_count(self) -> int:
        """The vote keys its expected peak asks for: what the next push gives the poll, unless
        it has votes under another count (config_push)."""
        return keys.vote_shards_for(self.expected_peak_votes_per_second)

    def votes_expiry(self) -> datetime | None:
        """When its votes start to be removed: as fixed (votes_expire_at), else, for an open
        poll with a retention period, its closing time + that period."""
        if self.votes_expire_at is not None:
            return self.votes_expire_at
        if self.status != PollStatus.OPEN or not self.retention_days or not self.closes_at:
            return None
        return self.closes_at + timedelta(days=self.retention_days)

    def _check_votes_can_be_taken(self) -> None:
        """ValidationError unless an open poll could take votes without a voter whose vote was
        removed (purged, or deleted by the TTL) voting again."""
        removed = self.votes_expire_at
        if removed is not None and removed <= timezone.now():
            raise ValidationError(
                f"Its votes were removed on {removed:%Y-%m-%d %H:%M} UTC (purged, or at the end "
                "of its retention period): it cannot take votes again, or a voter whose vote "
                "was removed could vote twice. Duplicate it to run it again."
            )
        # Not keyed on closes_at: the change form of a pushed poll shows it read-only.
        if self.retention_days and self.closes_at is None:
            raise ValidationError(
                "A poll with a retention period needs a closing time: its votes are deleted "
                "that many days after it closes."
            )
        if removed is not None and self.closes_at is not None and self.closes_at > removed:
            raise ValidationError(
                f"Its votes start to expire on {removed:%Y-%m-%d %H:%M} UTC: it cannot take "
                "votes after that."
            )

    def routing_clash(self, spellings: Iterable[str]) -> str:
        """Why a text for one of `spellings` (codes and aliases of this poll) would reach
        another poll on this number (validation.spelling_clash); "" when none would."""
        routing = Routing(self.keyword, tuple(spellings), self.status == PollStatus.OPEN)
        return spelling_clash(self.number, routing, self._others_on_number())

    def _others_on_number(self) -> list[Routing]:
        """How the ingest routes the other polls on this number, whatever their status: all
        of them but drafts never pushed (not in DynamoDB; their own push checks them)."""
        others = (
            Poll.objects.filter(number=self.number)
            .exclude(pk=self.pk)
            .exclude(status=PollStatus.DRAFT, pushed_at__isnull=True)
            .prefetch_related("categories")
        )
        return [
            Routing(
                other.keyword,
                tuple(s for category in other.categories.all() for s in category.spellings),
                other.status == PollStatus.OPEN,
                other.votes_per_phone_in_force() > 1,
            )
            for other in others
        ]

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
            votes_expire_at=_utc(self.votes_expiry()),
            vote_shards=self.vote_key_count(),
            channels=PollChannels(self.channels),
            votes_per_phone=self.votes_per_phone,
        )


def _utc(value: datetime | None) -> datetime | None:
    # One spelling per instant, whatever time zone a form saved it in, so equal polls give
    # equal documents (and equal hashes).
    return value.astimezone(UTC) if value is not None else None


class RetiredSlug(models.Model):
    """The slug of a deleted poll: never given to another poll, so nothing the deleted poll
    left behind (a stream record the tally applies late, its aggregate's tombstone) can ever
    be taken for a new poll's."""

    slug = models.SlugField(primary_key=True, max_length=SLUG_MAX_LENGTH)
    retired_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


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
    # A new category of a poll gets the next unused palette colour (CategoryFormSet,
    # colours.next_colour); this default only serves one created alone.
    colour = models.CharField(max_length=7, default=PALETTE[0], validators=[validate_colour])
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


class Invalidation(models.Model):
    """One void or unvoid of a poll's votes (polls.services.invalidation): who, when, why, what
    it selected, and the voter keys whose votes it voided or restored. The audit pack's
    invalidations.csv is these rows."""

    class Action(models.TextChoices):
        VOID = "void", "void"
        UNVOID = "unvoid", "unvoid"

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="invalidations")
    action = models.CharField(max_length=6, choices=Action.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.CharField(max_length=150, help_text="The organiser, or the command line's user.")
    reason = models.TextField()
    # What was asked for: {"voter_keys": [...]} or {"received_from", "received_to", "region",
    # "channel"} (polls.services.invalidation.Selection.as_record); an unvoid's {"void": id}.
    selection = models.JSONField(default=dict)
    # The voter keys whose votes this entry voided (or restored), sorted.
    voter_keys = models.JSONField(default=list)
    count = models.PositiveIntegerField(default=0)
    # On an unvoid: the void it undoes.
    undoes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="undone_by"
    )

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.action} #{self.pk} of {self.poll_id}: {self.count} votes"


class ConfigPush(models.Model):
    """One version of a poll's configuration document as pushed to the config table
    (polls.services.config_push.push_config), and from when it was in force. The config table
    keeps only the current version; reconciliation judges each text Twilio received against
    the version in force when it was sent (polls.services.reconcile)."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="config_pushes")
    version = models.PositiveIntegerField()
    # The number it was pushed under (a poll can move to another number between pushes).
    number = models.CharField(max_length=16, db_index=True)
    # When it took effect: the time an open, close or schedule names (close_now's closing
    # time), else when it was pushed.
    in_force_from = models.DateTimeField()
    document = models.TextField(help_text="PollConfig.to_json() of the pushed version")

    class Meta:
        ordering = ("poll", "version")
        constraints = [
            models.UniqueConstraint(fields=("poll", "version"), name="one_push_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.poll_id} v{self.version} from {self.in_force_from:%Y-%m-%d %H:%M:%S}"
