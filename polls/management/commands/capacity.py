"""What a show on one poll needs and costs; --check reads the account's quotas, --apply sets
the tables' warm throughput and the poll's expected peak."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polls.management.lookup import poll_by_slug
from polls.services import capacity


def _number(kind: type[int] | type[float], what: str, least: float) -> Callable[[str], Any]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{what} must be at least {least:g}, not {text}")
        return value

    return parse


class Command(BaseCommand):
    help = (
        "Plan a show on the poll SLUG: vote keys, viewer replicas, stream shards, tally and "
        "ingest concurrency, the tables' warm throughput, the quotas it needs and dollars per "
        "hour. --check exits 1 naming each account quota that is short."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--votes-per-second",
            required=True,
            type=_number(int, "--votes-per-second", 1),
            help="the show's peak of accepted votes a second",
        )
        parser.add_argument(
            "--viewers",
            required=True,
            type=_number(int, "--viewers", 0),
            help="results pages open at once (each reads once a second)",
        )
        parser.add_argument(
            "--hours",
            type=_number(float, "--hours", 0.01),
            default=1.0,
            help="how long the show lasts at that peak, for its cost (default 1)",
        )
        parser.add_argument("--json", action="store_true", help="print the plan as JSON")
        parser.add_argument(
            "--check",
            action="store_true",
            help="read the account's quotas (Service Quotas) and exit 1 if one is short",
        )
        parser.add_argument(
            "--apply",
            action="store_true",
            help="set the tables' warm throughput and the poll's expected peak",
        )

    def handle(
        self,
        *args: Any,
        slug: str,
        votes_per_second: int,
        viewers: int,
        hours: float,
        json: bool,
        check: bool,
        apply: bool,
        **options: Any,
    ) -> None:
        poll = poll_by_slug(slug)
        try:
            show = capacity.plan(votes_per_second, viewers, hours)
        except capacity.CapacityError as error:
            raise CommandError(f"cannot plan {slug!r}: {error}") from None
        readings = capacity.read_quotas(show) if check else []
        applied = capacity.apply_plan(poll, show) if apply else []
        if json:
            self._print_json(slug, show, readings, applied)
        else:
            self._print_table(slug, show)
            if check:
                self._print_readings(readings)
            if apply:
                self._print_applied(applied)
        failures = [
            f"{r.quota['name']} ({r.quota['quota_code']}) is {r.value:g}, the show needs "
            f"{r.quota['needed']:,}"
            for r in readings
            if r.short
        ] + [f"{a.what}: {a.message}" for a in applied if not a.ok]
        if failures:
            raise CommandError("; ".join(failures))

    def _print_json(
        self,
        slug: str,
        show: dict[str, Any],
        readings: list[capacity.QuotaReading],
        applied: list[capacity.Applied],
    ) -> None:
        document: dict[str, Any] = {"poll": slug, **show}
        if readings:
            document["check"] = [reading.to_json() for reading in readings]
        if applied:
            document["apply"] = [vars(change) for change in applied]
        self.stdout.write(json.dumps(document, indent=1))

    def _print_table(self, slug: str, show: dict[str, Any]) -> None:
        votes, replicas = show["vote_keys"], show["viewer_replicas"]
        stream, ingest = show["stream"], show["ingest"]
        rows = [
            ("poll", slug),
            ("peak", f"{show['votes_per_second']:,} votes/s, {show['viewers']:,} viewers"),
            (
                "vote keys",
                f"{votes['keys']} keys, each {votes['write_units_per_key']:,.0f} write units/s "
                f"(planned ≤ {votes['planned_write_units_per_key']:,}, limit "
                f"{votes['limit_write_units_per_key']:,})",
            ),
            (
                "viewer replicas",
                f"{replicas['replicas']} replicas, each "
                f"{replicas['read_units_per_key']:,.0f} read units/s "
                f"(planned ≤ {replicas['planned_read_units_per_key']:,.0f}, limit "
                f"{replicas['limit_read_units_per_key']:,}; carry "
                f"{replicas['viewers_carried']:,} viewers)",
            ),
            (
                "stream shards",
                f"≥ {stream['shards']} at {stream['records_per_shard_per_second']:,.0f} "
                f"records/s each (ParallelizationFactor {stream['parallelization_factor']}, "
                f"BatchSize {stream['batch_size']}, "
                f"window {stream['batching_window_seconds']:g} s)",
            ),
            (
                "tally",
                f"{stream['tally_invocations_per_second']:,.0f} invocations/s, concurrency "
                f"{stream['tally_concurrency']}, each shard busy "
                f"{stream['shard_busy_share']:.0%} of a second",
            ),
            (
                "ingest",
                f"concurrency {ingest['concurrency']:,.0f} at {ingest['memory_mb']} MB "
                f"({ingest['ms_per_vote']:.1f} ms a vote)",
            ),
        ]
        for role, warm in show["warm_throughput"].items():
            rows.append(
                (
                    f"warm throughput, {role}",
                    f"ReadUnitsPerSecond {warm['ReadUnitsPerSecond']:,}, "
                    f"WriteUnitsPerSecond {warm['WriteUnitsPerSecond']:,}",
                )
            )
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            self.stdout.write(f"{name:<{width}}  {value}")
        self.stdout.write("\nquotas (Service Quotas code, needed, us-east-1 default)")
        for quota in show["quotas"]:
            needed = "-" if quota["needed"] is None else f"{quota['needed']:,}"
            default = "not quoted" if quota["default"] is None else f"{quota['default']:,.0f}"
            flag = "" if quota["default_suffices"] in (None, True) else "  ← raise it"
            self.stdout.write(
                f"  {quota['service_code']:<17} {quota['quota_code']:<11} "
                f"{quota['name']:<43} {needed:>8}  {default:>10}{flag}"
            )
        self.stdout.write("\nUS dollars per hour")
        for item, usd in show["usd_per_hour"].items():
            self.stdout.write(f"  {item:<40} {usd:>10,.2f}")
        self.stdout.write(f"  {'total per hour':<40} {show['usd_per_hour_total']:>10,.2f}")
        self.stdout.write(
            f"  {'total for ' + format(show['hours'], 'g') + ' h':<40} "
            f"{show['usd_for_show']:>10,.2f}"
        )
        self.stdout.write(f"  (excluded: {show['usd_excludes']})")
        for warning in show["warnings"]:
            self.stdout.write(f"warning: {warning}")

    def _print_readings(self, readings: list[capacity.QuotaReading]) -> None:
        self.stdout.write("\nthe account's quotas (--check)")
        for reading in readings:
            quota = reading.quota
            name = f"{quota['quota_code']} {quota['name']}"
            if reading.value is None:
                self.stdout.write(f"  {name}: could not read: {reading.problem}")
            elif reading.short:
                self.stdout.write(
                    f"  {name}: SHORT: {reading.value:g}, the show needs {quota['needed']:,}"
                )
            else:
                self.stdout.write(f"  {name}: {reading.value:g} (enough)")
        unread = sum(1 for reading in readings if reading.value is None)
        if unread:
            self.stdout.write(
                f"  {unread} of {len(readings)} quotas could not be read: check them in the "
                "Service Quotas console"
            )

    def _print_applied(self, applied: list[capacity.Applied]) -> None:
        self.stdout.write("\napplied (--apply)")
        for change in applied:
            self.stdout.write(
                f"  {change.what}: {'' if change.ok else 'NOT SET: '}{change.message}"
            )
