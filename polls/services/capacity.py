"""A show's plan for one poll: what a peak of N votes/s and M viewers needs and costs
(deploy.capacity_model's model, the one bench.cost_model uses), read against the account's quotas,
and applied: the tables' warm throughput and the poll's expected peak.

`manage.py capacity` prints it; a poll's page shows it for its expected peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore import exceptions as boto_errors
from django.conf import settings

from deploy.capacity_model import MissingMeasurements, show_plan
from lambdas.shared import keys
from polls.models import MAX_PEAK_VOTES_PER_SECOND
from polls.services import aws
from polls.services.config_push import vote_keys_refusal

if TYPE_CHECKING:
    from polls.models import Poll

# The viewers a poll's page plans for (the command takes any number).
DEFAULT_VIEWERS = 10_000


class CapacityError(aws.ServiceError):
    """The plan cannot be made (no measurements) or applied."""


def plan(votes_per_second: int, viewers: int, hours: float = 1.0) -> dict[str, Any]:
    """The plan of a show with this peak, for `hours` hours (deploy.capacity_model.show_plan)."""
    if votes_per_second > MAX_PEAK_VOTES_PER_SECOND:
        raise CapacityError(
            f"a poll can be planned for at most {MAX_PEAK_VOTES_PER_SECOND:,} votes/s, "
            f"not {votes_per_second:,}"
        )
    try:
        return show_plan(votes_per_second, viewers, hours)
    except MissingMeasurements as missing:
        raise CapacityError(f"the capacity model has no measurements: {missing}") from None
    except ValueError as invalid:
        raise CapacityError(str(invalid)) from None


def poll_plan(poll: Poll, viewers: int = DEFAULT_VIEWERS) -> dict[str, Any]:
    """The plan of a poll's show at its expected peak."""
    return plan(poll.expected_peak_votes_per_second, viewers)


@dataclass(frozen=True)
class QuotaReading:
    """One quota of a plan as the account has it: its value, or why it could not be read."""

    quota: dict[str, Any]  # one of plan()["quotas"]
    value: float | None
    problem: str = ""

    @property
    def short(self) -> bool:
        needed = self.quota["needed"]
        return self.value is not None and needed is not None and self.value < needed

    def to_json(self) -> dict[str, Any]:
        return {
            "quota_code": self.quota["quota_code"],
            "name": self.quota["name"],
            "needed": self.quota["needed"],
            "value": self.value,
            "short": self.short,
            "could_not_read": self.problem or None,
        }


def read_quotas(show: dict[str, Any]) -> list[QuotaReading]:
    """The account's current value of each quota the plan needs, through Service Quotas:
    the applied value, else (AWS keeps none for a quota never raised) the default."""
    client = aws.operator_client("service-quotas")
    readings = []
    for quota in show["quotas"]:
        names = {"ServiceCode": quota["service_code"], "QuotaCode": quota["quota_code"]}
        try:
            value = float(client.get_service_quota(**names)["Quota"]["Value"])
            readings.append(QuotaReading(quota, value))
            continue
        except aws.AWS_ERRORS as error:
            if _code(error) != "NoSuchResourceException" or settings.AWS_ENDPOINT_URL:
                readings.append(QuotaReading(quota, None, _unreadable(quota, error)))
                continue
        try:
            value = float(client.get_aws_default_service_quota(**names)["Quota"]["Value"])
            readings.append(QuotaReading(quota, value))
        except aws.AWS_ERRORS as error:
            readings.append(QuotaReading(quota, None, _unreadable(quota, error)))
    return readings


def _code(error: Exception) -> str:
    if isinstance(error, boto_errors.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def _unreadable(quota: dict[str, Any], error: Exception) -> str:
    where = f"{quota['service_code']} {quota['quota_code']} ({quota['name']})"
    if settings.AWS_ENDPOINT_URL and _code(error) == "NoSuchResourceException":
        return f"the emulator has no Service Quotas for {where}"
    if isinstance(error, boto_errors.ClientError):
        details = error.response.get("Error", {})
        refusal = f"{details.get('Code', '')} {details.get('Message', '')}".strip()
        return f"Service Quotas refused {where}: {refusal}"
    return f"Service Quotas could not be reached for {where}: {error}"


@dataclass(frozen=True)
class Applied:
    """One change --apply made, or could not make."""

    what: str
    ok: bool
    message: str


def apply_plan(poll: Poll, show: dict[str, Any]) -> list[Applied]:
    """Set the tables' warm throughput to the plan's (UpdateTable WarmThroughput) and the
    poll's expected peak to the show's, whose vote keys the next push gives it (config_push:
    never once the poll has votes under another count)."""
    results = [
        _warm(role, table, show["warm_throughput"][role])
        for role, table in (
            ("votes", settings.VOTES_TABLE),
            ("aggregates", settings.AGGREGATES_TABLE),
        )
    ]
    results.append(_expected_peak(poll, show["votes_per_second"]))
    return results


def _warm(role: str, table: str, warm: dict[str, int]) -> Applied:
    what = f"warm throughput of the {role} table {table!r}"
    client = aws.operator_client("dynamodb")
    try:
        current = client.describe_table(TableName=table)["Table"].get("WarmThroughput") or {}
        wanted = {
            name: max(units, int(current.get(name) or 0)) for name, units in warm.items()
        }  # warm throughput only rises: never ask for less than the table has
        if all(int(current.get(name) or 0) >= units for name, units in wanted.items()):
            return Applied(what, True, f"already {_units(current)}")
        client.update_table(TableName=table, WarmThroughput=wanted)
    except aws.AWS_ERRORS as error:
        return Applied(what, False, aws.describe(error, role, table))
    return Applied(what, True, f"set to {_units(wanted)}")


def _units(warm: dict[str, Any]) -> str:
    return (
        f"{int(warm.get('ReadUnitsPerSecond') or 0):,} read and "
        f"{int(warm.get('WriteUnitsPerSecond') or 0):,} write units/s"
    )


def _expected_peak(poll: Poll, peak: int) -> Applied:
    what = f"expected peak of poll {poll.slug!r}"
    planned = keys.vote_shards_for(peak)
    try:
        refusal = vote_keys_refusal(poll, peak)
    except aws.ServiceError as error:
        return Applied(what, False, str(error))
    if refusal:
        return Applied(what, False, refusal)
    if poll.expected_peak_votes_per_second != peak:
        poll.expected_peak_votes_per_second = peak
        poll.save(update_fields=["expected_peak_votes_per_second"])
    if poll.vote_shards == planned:
        return Applied(what, True, f"{peak:,} votes/s: its {planned} vote keys stay")
    return Applied(
        what,
        True,
        f"{peak:,} votes/s: the next push (manage.py push_config {poll.slug}) gives it "
        f"{planned} vote keys",
    )
