"""The poll configuration document: what the portal pushes to the config table and the ingest
reads. It is stored as one JSON string attribute so both sides round-trip it exactly (no
DynamoDB number/Decimal conversions) and an old ingest ignores fields a newer portal adds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from lambdas.shared.channels import PollChannels
from lambdas.shared.keys import LEGACY_VOTE_SHARDS, MAX_VOTE_SHARDS

SCHEMA = 1
# The most votes a poll can give each phone (PollConfig.votes_per_phone).
MAX_VOTES_PER_PHONE = 100


class PollStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class VotingState(StrEnum):
    """Whether a poll takes a vote right now, from its status and schedule."""

    ACCEPTING = "accepting"
    DRAFT = "draft"
    NOT_OPEN_YET = "not_open_yet"
    CLOSED = "closed"


class InvalidConfig(ValueError):
    """A configuration document that cannot be used; the message says why."""


@dataclass(frozen=True)
class CategoryConfig:
    code: str
    label: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PollConfig:
    poll_id: str
    number: str
    question: str
    categories: tuple[CategoryConfig, ...]
    status: PollStatus = PollStatus.DRAFT
    keyword: str = ""
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    allow_vote_change: bool = False
    confirm_votes: bool = True
    # Reply templates by name (see lambdas.shared.replies); missing names use the defaults.
    replies: dict[str, str] = field(default_factory=dict)
    version: int = 0
    # Votes are deleted by DynamoDB's TTL this many days after the poll closes (None: kept
    # until purged). Deleting a vote this way, or by a purge, does not change the totals.
    retention_days: int | None = None
    # When the poll's votes start to be removed: every vote's TTL expiry (the close time it
    # first opened with + retention_days), or when they were purged. It takes no vote from
    # then on, whatever its status: a voter whose vote was removed must not vote again.
    votes_expire_at: datetime | None = None
    # Part of the voter keys' HMAC input: a new version gives the poll's voters new,
    # unlinkable keys (only sensible before the first vote or after a purge).
    voter_key_version: int = 1
    # How many partition keys the poll's votes are spread over (lambdas.shared.keys): chosen
    # from the expected peak when the poll is first pushed, fixed once it has votes.
    vote_shards: int = LEGACY_VOTE_SHARDS
    # The channels it takes votes by; a document without it (pushed before channels existed)
    # takes both.
    channels: PollChannels = PollChannels.BOTH
    # How many votes each phone has, to split across categories as it likes ("A 3"). With 1 a
    # phone has one vote, which allow_vote_change lets it change; with more, each message adds
    # to the phone's votes until they are used up, and none is ever changed.
    votes_per_phone: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.vote_shards <= MAX_VOTE_SHARDS:
            raise InvalidConfig(
                f"vote_shards must be between 1 and {MAX_VOTE_SHARDS}, not {self.vote_shards}"
            )
        if not 1 <= self.votes_per_phone <= MAX_VOTES_PER_PHONE:
            raise InvalidConfig(
                f"votes_per_phone must be between 1 and {MAX_VOTES_PER_PHONE}, "
                f"not {self.votes_per_phone}"
            )
        if self.votes_per_phone > 1 and self.allow_vote_change:
            raise InvalidConfig("a vote can be changed only with one vote per phone")

    def voting_state(self, now: datetime) -> VotingState:
        if self.status == PollStatus.DRAFT:
            return VotingState.DRAFT
        if self.status == PollStatus.CLOSED:
            return VotingState.CLOSED
        if self.votes_expire_at is not None and now >= self.votes_expire_at:
            return VotingState.CLOSED
        if self.opens_at is not None and now < self.opens_at:
            return VotingState.NOT_OPEN_YET
        if self.closes_at is not None and now >= self.closes_at:
            return VotingState.CLOSED
        return VotingState.ACCEPTING

    def category(self, code: str) -> CategoryConfig:
        for category in self.categories:
            if category.code == code:
                return category
        raise InvalidConfig(f"poll {self.poll_id!r} has no category {code!r}")

    def to_json(self) -> str:
        # Only when set, so the documents of polls without it read (and hash) as before.
        expiry = {"votes_expire_at": _time_to_json(self.votes_expire_at)}
        shards = {"vote_shards": self.vote_shards}
        channels = {"channels": self.channels.value}
        votes = {"votes_per_phone": self.votes_per_phone}
        return json.dumps(
            {
                **(expiry if self.votes_expire_at is not None else {}),
                **(shards if self.vote_shards != LEGACY_VOTE_SHARDS else {}),
                **(channels if self.channels is not PollChannels.BOTH else {}),
                **(votes if self.votes_per_phone != 1 else {}),
                "schema": SCHEMA,
                "poll_id": self.poll_id,
                "number": self.number,
                "question": self.question,
                "status": self.status.value,
                "keyword": self.keyword,
                "opens_at": _time_to_json(self.opens_at),
                "closes_at": _time_to_json(self.closes_at),
                "allow_vote_change": self.allow_vote_change,
                "confirm_votes": self.confirm_votes,
                "replies": self.replies,
                "version": self.version,
                "retention_days": self.retention_days,
                "voter_key_version": self.voter_key_version,
                "categories": [
                    {"code": c.code, "label": c.label, "aliases": list(c.aliases)}
                    for c in self.categories
                ],
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> PollConfig:
        try:
            raw: dict[str, Any] = json.loads(text)
            return cls(
                poll_id=str(raw["poll_id"]),
                number=str(raw["number"]),
                question=str(raw["question"]),
                status=PollStatus(raw["status"]),
                keyword=str(raw.get("keyword") or ""),
                opens_at=_time_from_json(raw.get("opens_at")),
                closes_at=_time_from_json(raw.get("closes_at")),
                allow_vote_change=bool(raw.get("allow_vote_change", False)),
                confirm_votes=bool(raw.get("confirm_votes", True)),
                replies={str(k): str(v) for k, v in (raw.get("replies") or {}).items()},
                version=int(raw.get("version", 0)),
                retention_days=_optional_int(raw.get("retention_days")),
                votes_expire_at=_time_from_json(raw.get("votes_expire_at")),
                voter_key_version=int(raw.get("voter_key_version", 1)),
                vote_shards=int(raw.get("vote_shards", LEGACY_VOTE_SHARDS)),
                channels=PollChannels(raw.get("channels", PollChannels.BOTH.value)),
                votes_per_phone=int(raw.get("votes_per_phone", 1)),
                categories=tuple(
                    CategoryConfig(
                        code=str(c["code"]),
                        label=str(c["label"]),
                        aliases=tuple(str(a) for a in c.get("aliases", ())),
                    )
                    for c in raw["categories"]
                ),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidConfig(f"unreadable poll configuration: {error!r}") from error


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _time_to_json(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidConfig("poll times must be timezone-aware")
    return value.isoformat()


def _time_from_json(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise InvalidConfig(f"poll time without a timezone: {value!r}")
    return parsed
