"""manage.py capacity: a show's plan (deploy/capacity_model.py's model), --check against the
emulator's Service Quotas, --apply, bad input, and the same plan on a poll's page."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from deploy import capacity_model as model
from lambdas.shared import keys
from polls.services import capacity
from tests.factories import change_url, logged_in, make_poll, organiser

pytestmark = pytest.mark.django_db

SHOW = ("--votes-per-second", "100000", "--viewers", "100000")


def run(*arguments: str) -> str:
    out = StringIO()
    call_command("capacity", *arguments, stdout=out, stderr=StringIO())
    return out.getvalue()


def plan_json(*arguments: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run(*arguments, "--json"))
    return document


def test_the_plan_for_100k_votes_and_100k_viewers():
    make_poll(slug="final")

    plan = plan_json("final", *SHOW, "--hours", "3")

    assert plan["poll"] == "final"
    assert plan["vote_keys"]["keys"] >= 128
    assert plan["vote_keys"]["keys"] == keys.vote_shards_for(100_000)
    assert plan["vote_keys"]["write_units_per_key"] <= keys.VOTE_KEY_WRITES_PER_SECOND
    replicas = plan["viewer_replicas"]
    assert replicas["replicas"] == keys.VIEWER_REPLICAS
    assert 0 < replicas["read_units_per_key"] <= 2400
    assert replicas["enough"] is True
    # Each viewer: a 0.5-unit read a second and one every DETAIL_READ_SECONDS, over the replicas.
    per_viewer = 0.5 * (1 + 1 / model.DETAIL_READ_SECONDS)
    assert replicas["read_units_per_key"] == pytest.approx(100_000 * per_viewer / 32)
    assert plan["stream"]["shards"] >= 100
    assert plan["stream"]["parallelization_factor"] == 1
    assert plan["stream"]["parallelization_factor_1_suffices"] is True
    assert plan["ingest"]["concurrency"] > 0
    assert plan["ingest"]["memory_mb"] > 0
    assert plan["warm_throughput"]["votes"]["WriteUnitsPerSecond"] >= 100_000
    assert plan["warm_throughput"]["aggregates"]["ReadUnitsPerSecond"] >= 50_000
    quotas = {quota["quota_code"]: quota for quota in plan["quotas"]}
    assert set(quotas) >= {"L-B99A9384", "L-AB614373", "L-CF0CBE56", "L-8A5B8E43", "L-A38ADA84"}
    assert quotas["L-8A5B8E43"]["needed"] == 100_000
    assert quotas["L-8A5B8E43"]["default_suffices"] is False
    assert quotas["L-A38ADA84"]["needed"] >= 100_000 / 60
    assert plan["usd_per_hour_total"] > 0
    assert plan["usd_for_show"] == pytest.approx(3 * plan["usd_per_hour_total"])


def test_the_plan_is_the_cost_models_arithmetic():
    """The command's ingest and stream figures are bench.cost_model's, not a second copy."""
    make_poll(slug="final")
    m = model.measured()
    scenario = model.scenario(100_000, m, keys.vote_shards_for(100_000))

    plan = plan_json("final", *SHOW)

    assert plan["ingest"]["concurrency"] == pytest.approx(scenario["ingest_concurrency"])
    assert plan["stream"]["shards"] == scenario["stream_shards_at_least"]
    assert plan["stream"]["tally_invocations_per_second"] == pytest.approx(
        scenario["tally_invocations_per_second"]
    )


def test_the_human_plan_is_a_table_naming_each_quota():
    make_poll(slug="final")

    text = run("final", *SHOW)

    assert "vote keys" in text and "128 keys" in text
    assert "viewer replicas" in text and f"{keys.VIEWER_REPLICAS} replicas" in text
    for code in ("L-B99A9384", "L-AB614373", "L-CF0CBE56", "L-8A5B8E43", "L-A38ADA84"):
        assert code in text
    assert "raise it" in text
    assert "total per hour" in text


def test_too_many_viewers_for_the_replicas_is_flagged():
    make_poll(slug="final")
    carried = model.viewers_carried(keys.VIEWER_REPLICAS)

    plan = plan_json("final", "--votes-per-second", "1000", "--viewers", str(carried + 1))

    assert plan["viewer_replicas"]["enough"] is False
    assert plan["viewer_replicas"]["read_units_per_key"] > 2400
    assert any("viewer replicas" in warning for warning in plan["warnings"])


def test_check_against_the_emulator_says_what_it_could_not_read(aws):
    make_poll(slug="final")

    text = run("final", *SHOW, "--check")

    # moto's Service Quotas knows only VPC's: none of the show's quotas can be read, so none
    # is known to be short, and each one says so.
    for code in ("L-B99A9384", "L-AB614373", "L-CF0CBE56", "L-8A5B8E43", "L-A38ADA84"):
        assert f"{code} " in text
    assert text.count("could not read: the emulator has no Service Quotas for") == len(
        capacity.plan(100_000, 100_000)["quotas"]
    )
    assert "quotas could not be read" in text


def test_check_exits_1_naming_a_short_quota(aws, monkeypatch):
    make_poll(slug="final")

    class Account:
        """Service Quotas of an account with Lambda's default concurrency and nothing else."""

        def get_service_quota(self, ServiceCode: str, QuotaCode: str) -> dict[str, Any]:
            if QuotaCode == "L-B99A9384":
                return {"Quota": {"Value": 1000.0}}
            return {"Quota": {"Value": 10_000_000.0}}

    monkeypatch.setattr(capacity.aws, "operator_client", lambda service: Account())

    with pytest.raises(CommandError, match=r"Concurrent executions \(L-B99A9384\) is 1000"):
        run("final", "--votes-per-second", "500000", "--viewers", "10", "--check")
    # Enough of everything: no error.
    assert "(enough)" in run("final", "--votes-per-second", "1000", "--viewers", "10", "--check")


def test_apply_sets_warm_throughput_and_the_expected_peak(aws):
    poll = make_poll(slug="final")

    text = run("final", *SHOW, "--apply")

    plan = capacity.plan(100_000, 100_000)
    client = boto3.client("dynamodb", endpoint_url=settings.AWS_ENDPOINT_URL)
    for role, table in (("votes", settings.VOTES_TABLE), ("aggregates", settings.AGGREGATES_TABLE)):
        warm = client.describe_table(TableName=table)["Table"]["WarmThroughput"]
        wanted = plan["warm_throughput"][role]
        assert warm["ReadUnitsPerSecond"] == wanted["ReadUnitsPerSecond"]
        assert warm["WriteUnitsPerSecond"] == wanted["WriteUnitsPerSecond"]
    poll.refresh_from_db()
    assert poll.expected_peak_votes_per_second == 100_000
    assert poll.planned_vote_key_count() == keys.vote_shards_for(100_000)
    assert "NOT SET" not in text
    assert f"gives it {keys.vote_shards_for(100_000)} vote keys" in text


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (("nope", *SHOW), "there is no poll with the slug 'nope'"),
        (("final", "--votes-per-second", "-5", "--viewers", "10"), "must be at least 1"),
        (
            ("final", "--votes-per-second", "lots", "--viewers", "10"),
            "a number, not 'lots'",
        ),
        (("final", "--votes-per-second", "10", "--viewers", "-1"), "--viewers must be at least 0"),
        (("final", *SHOW, "--hours", "soon"), "--hours must be a number"),
        (("final", "--votes-per-second", "10000000", "--viewers", "1"), "at most 500,000"),
    ],
)
def test_bad_input_is_a_clear_error(arguments, problem):
    make_poll(slug="final")

    with pytest.raises(CommandError, match=problem):
        run(*arguments)


def test_the_polls_page_shows_its_plan():
    owner = organiser("alice")
    poll = make_poll(owner, "final", expected_peak_votes_per_second=100_000)

    page = logged_in(owner).get(change_url(poll)).content.decode()

    assert "Show plan" in page
    assert "For 100,000 votes/s (the expected peak)" in page
    assert (
        f"manage.py capacity final --votes-per-second 100000 --viewers {capacity.DEFAULT_VIEWERS}"
        in page
    )
    assert "L-B99A9384" in page
    assert "128," in page  # the vote keys


def test_the_model_reads_as_often_as_the_page_does():
    """VIEWER_READS_PER_SECOND is the results page's refresh (polls/dashboard/src/app.js)."""
    source = (settings.BASE_DIR / "polls" / "dashboard" / "src" / "app.js").read_text()
    (refresh_ms,) = re.findall(r"const OPEN_REFRESH_MS = (\d+);", source)

    assert 1000 / int(refresh_ms) == model.VIEWER_READS_PER_SECOND


def test_an_items_size_counts_its_names_strings_numbers_and_every_member_of_its_sets():
    item = {
        "sids": {"SS": ["0123456789abcdef", "fedcba9876543210"]},  # 4 + 2 x 16
        "c:total": {"N": "100"},  # 7 + 2 (one significant digit: 1 + 1)
        "poll": {"S": "talent"},  # 4 + 6
        "n": {"NS": ["12", "3"]},  # 1 + 2 + 2
    }

    assert model.item_size(item) == 36 + 9 + 10 + 5
