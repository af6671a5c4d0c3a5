"""Opening, closing, scheduling, duplicating and deleting polls, and what follows a close.

Whether a poll takes votes is decided by the ingest from the pushed document, so every change
of status or schedule is pushed, and pushed *before* it is saved: when DynamoDB refuses it the
poll stays as it was, and the portal never shows a poll as closed that still takes votes.

These are the workflows; the admin (polls/admin.py, polls/admin_actions.py) only calls them and
turns what they return, or the LifecycleError they raise, into messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from lambdas.shared.config_doc import PollStatus, VotingState
from polls.models import REPLY_FIELDS, SLUG_MAX_LENGTH, Category, Poll, RetiredSlug
from polls.services import tables
from polls.services.config_push import PushError, push_config, withdraw_config
from polls.services.dashboard import PublishError, publish_dashboard, unpublish_dashboard
from polls.services.retention import PurgeError, check_erasable, erase_totals, erase_votes

MIN_CATEGORIES_TO_OPEN = 2
# What a duplicate takes from its original; status, schedule, pushes and recounts start afresh.
_COPIED_FIELDS = (
    "owner",
    "question",
    "number",
    "keyword",
    "votes_per_phone",
    "allow_vote_change",
    "confirm_votes",
    "channels",
    "expected_peak_votes_per_second",  # its vote keys are chosen afresh at its first push
    *REPLY_FIELDS.values(),
)


class LifecycleError(Exception):
    """The change was not made; the message says why, in words an organiser can act on."""


class DeletionUnfinished(LifecycleError):
    """A deletion stopped at a failed step: the poll stays, marked as being deleted since
    `started_at` (it takes no votes and is never pushed again); deleting it again finishes."""

    def __init__(self, message: str, started_at: datetime) -> None:
        super().__init__(message)
        self.started_at = started_at


@dataclass(frozen=True)
class AfterClose:
    """What after_close did to the poll's public page."""

    republished: bool  # the page now shows the final results
    republish_error: str = ""  # why a published page still shows the poll open ("": it does not)


@dataclass(frozen=True)
class DeletedPoll:
    """What delete_poll did besides deleting the poll."""

    erased_votes: int  # votes erased with the poll's totals
    unpublish_error: str = ""  # why the poll's public page is still up ("": it is not)


def open_now(poll: Poll, now: datetime | None = None) -> int:
    """Start taking votes now; returns the pushed version."""
    now = now or timezone.now()
    if poll.to_config().voting_state(now) == VotingState.ACCEPTING:
        raise LifecycleError("it is already open")
    changes: dict[str, Any] = {"status": PollStatus.OPEN.value}
    # A schedule that would keep it shut is dropped: "now" is what the organiser asked for.
    if poll.opens_at is not None and poll.opens_at > now:
        changes["opens_at"] = None
    if poll.closes_at is not None and poll.closes_at <= now:
        changes["closes_at"] = None
    return _push_then_save(poll, changes, now)


def close_now(poll: Poll, now: datetime | None = None) -> int:
    """Stop taking votes now; returns the pushed version."""
    now = (now or timezone.now()).replace(microsecond=0)
    if poll.status == PollStatus.CLOSED:
        raise LifecycleError("it is already closed")
    if poll.status == PollStatus.DRAFT:
        raise LifecycleError("it is a draft that never opened")
    changes: dict[str, Any] = {"status": PollStatus.CLOSED.value}
    if poll.closes_at is None or poll.closes_at > now:
        changes["closes_at"] = now  # when it really closed, for the record and the dashboard
    if poll.opens_at is not None and poll.opens_at >= now:
        changes["opens_at"] = None  # it never opened
    return _push_then_save(poll, changes, now)


def after_close(poll: Poll) -> AfterClose:
    """What follows a close: a published page is republished as final results (an unpublished
    one stays unpublished: publishing is the organiser's choice). A failed republish leaves the
    poll closed and is reported, not raised."""
    if poll.dashboard_published_at is None:
        return AfterClose(republished=False)
    try:
        publish_dashboard(poll)
    except PublishError as error:
        return AfterClose(republished=False, republish_error=str(error))
    return AfterClose(republished=True)


def schedule(
    poll: Poll, opens_at: datetime | None, closes_at: datetime | None, now: datetime | None = None
) -> int:
    """Open the poll at `opens_at` (None: now) and close it at `closes_at` (None: never)."""
    now = now or timezone.now()
    if opens_at is None and closes_at is None:
        raise LifecycleError("give an opening time, a closing time or both")
    if closes_at is not None and closes_at <= now:
        raise LifecycleError("the closing time has already passed")
    return _push_then_save(
        poll, {"status": PollStatus.OPEN.value, "opens_at": opens_at, "closes_at": closes_at}, now
    )


def rotate_voter_keys(poll: Poll, now: datetime | None = None) -> int:
    """Give the poll's voters new voter keys, unlinkable to the old ones; returns the pushed
    version. Only while the poll takes no votes and stores none (before the first vote, or
    after a purge): a voter whose key changed could otherwise vote twice."""
    if poll.to_config().voting_state(now or timezone.now()) == VotingState.ACCEPTING:
        raise LifecycleError("it is taking votes: close it first")
    if tables.any_vote_stored(poll.slug, poll.vote_key_count(), LifecycleError):
        raise LifecycleError(
            "votes are stored under the current keys: purge them first (manage.py purge_votes)"
        )
    return _push_then_save(poll, {"voter_key_version": poll.voter_key_version + 1})


def duplicate(poll: Poll) -> Poll:
    """A draft copy of the poll and its categories under a new slug (not pushed: drafts are
    pushed when they open)."""
    try:
        with transaction.atomic():
            copy = _copy(poll)
    except IntegrityError:  # another copy took the same free slug a moment before
        raise LifecycleError("another copy was being made at the same moment; try again") from None
    return copy


def delete_poll(poll: Poll) -> DeletedPoll:
    """Delete the poll with everything it left in AWS, resumably: mark it as being deleted
    (never pushed again), withdraw its configuration, so it takes no more votes, turn its
    totals into a tombstone the tally honours, erase its votes, then retire its slug (never
    reused) and delete it, and take its public page down.

    LifecycleError, with nothing changed, while its votes cannot be erased yet
    (check_erasable). Each later step is idempotent: when one fails, DeletionUnfinished says
    what is left, the poll stays marked, and deleting it again (no check: it takes no votes)
    finishes from where it stopped. The poll's row goes only once every step succeeded. A
    page that cannot be taken down is reported in the result: the poll is deleted all the
    same."""
    if poll.deletion_started_at is None:
        try:
            check_erasable(poll)
        except PurgeError as error:
            raise LifecycleError(str(error)) from None
        poll.deletion_started_at = timezone.now()
        poll.save(update_fields=["deletion_started_at"])
    steps = "its configuration is still pushed, its totals and votes are not erased"
    try:
        withdraw_config(poll)
        steps = "it takes no votes; its totals and votes are not erased"
        erase_totals(poll.slug, poll.vote_key_count())
        steps = "it takes no votes and its totals are erased; some of its votes are not"
        erased = erase_votes(poll.slug, poll.vote_key_count())
    except (PurgeError, PushError) as error:
        raise DeletionUnfinished(
            f"{error}. The deletion stopped: {steps}; delete it again to finish",
            poll.deletion_started_at,
        ) from None
    with transaction.atomic():
        RetiredSlug.objects.get_or_create(slug=poll.slug)
        poll.delete()
    try:
        unpublish_dashboard(poll)
    except PublishError as error:
        return DeletedPoll(erased_votes=erased, unpublish_error=str(error))
    return DeletedPoll(erased_votes=erased)


def _copy(poll: Poll) -> Poll:
    copy = Poll.objects.create(
        slug=_free_slug(poll.slug),
        status=PollStatus.DRAFT.value,
        **{name: getattr(poll, name) for name in _COPIED_FIELDS},
    )
    Category.objects.bulk_create(
        Category(
            poll=copy,
            code=category.code,
            label=category.label,
            aliases=category.aliases,
            colour=category.colour,
            order=category.order,
        )
        for category in poll.categories.all()
    )
    return copy


def _push_then_save(poll: Poll, changes: dict[str, Any], now: datetime | None = None) -> int:
    """Apply the changes to the poll, check it can run, push it (in force from `now`, None:
    when pushed), then save it; the pushed version. LifecycleError, with the poll as it was,
    when it cannot run or the push fails."""
    before = {name: getattr(poll, name) for name in changes}
    for name, value in changes.items():
        setattr(poll, name, value)
    try:
        if poll.status == PollStatus.OPEN:
            _check_can_open(poll)
        version = push_config(poll, now)
    except ValidationError as error:
        _restore(poll, before)
        raise LifecycleError(" ".join(error.messages)) from None
    except PushError as error:
        _restore(poll, before)
        raise LifecycleError(f"the change was not pushed to DynamoDB: {error}") from None
    poll.save(update_fields=[*changes, "updated_at"])
    return version


def _check_can_open(poll: Poll) -> None:
    if poll.categories.count() < MIN_CATEGORIES_TO_OPEN:
        raise ValidationError(
            f"An open poll needs at least {MIN_CATEGORIES_TO_OPEN} categories to choose from."
        )
    poll.clean()  # the schedule's order, and no clash with another open poll on the number
    spellings = [s for category in poll.categories.all() for s in category.spellings]
    clash = poll.routing_clash(spellings=spellings)
    if clash:
        raise ValidationError(clash)


def _restore(poll: Poll, before: dict[str, Any]) -> None:
    for name, value in before.items():
        setattr(poll, name, value)


def _free_slug(slug: str) -> str:
    for n in range(1, 1000):
        suffix = "-copy" if n == 1 else f"-copy-{n}"
        candidate = slug[: SLUG_MAX_LENGTH - len(suffix)] + suffix
        taken = Poll.objects.filter(slug=candidate).exists()
        if not taken and not RetiredSlug.objects.filter(slug=candidate).exists():
            return candidate
    raise LifecycleError(f"there are too many copies of {slug!r} already")
