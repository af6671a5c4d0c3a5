"""WhatsApp traffic from the local tools: `send_vote --channel whatsapp` and simulate_votes'
`--channel` / `--whatsapp-share`, through the local backend, counted exactly with one vote per
phone whichever channel it uses."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lambdas.shared import attributes
from lambdas.shared.channels import Channel, PollChannels
from lambdas.shared.config_doc import PollStatus
from loadgen.plan import BadPlan, PlanSpec, build_plan
from loadgen.send_vote import main as send_vote
from tests.factories import aggregate, make_poll, vote_items

pytestmark = pytest.mark.django_db

CATEGORIES = [("A", "Apples"), ("B", "Burgers"), ("C", "Curry")]


def simulate(*arguments: str) -> str:
    out = StringIO()
    call_command("simulate_votes", *arguments, stdout=out, stderr=StringIO())
    return out.getvalue()


def channels_of_votes(poll_id: str) -> Counter[Channel]:
    return Counter(attributes.vote_channel(item) for item in vote_items(poll_id))


def test_a_mixed_run_counts_one_vote_per_phone_and_splits_by_channel(backend, tmp_path):
    make_poll(
        slug="lunch",
        categories=CATEGORIES,
        status=PollStatus.OPEN,
        push=True,
        allow_vote_change=True,
    )
    result_file = tmp_path / "result.json"

    out = simulate(
        "lunch",
        *("--url", backend.webhook_url, "--total", "120", "--voters", "80"),
        *("--change-share", "0.5", "--whatsapp-share", "0.5", "--rate", "0"),
        *("--seed", "5", "--no-progress", "--json", str(result_file)),
    )

    result = json.loads(result_file.read_text())
    assert out.splitlines()[-1] == "EXACT: the totals equal what was sent."
    assert result["outcomes"]["accepted"] == 80 and result["unexpected_replies"] == 0
    assert len(vote_items("lunch")) == 80  # one per phone, whichever channel it used
    stored = channels_of_votes("lunch")
    assert stored[Channel.WHATSAPP] > 20 and stored[Channel.SMS] > 20
    assert attributes.channels_from_aggregate(aggregate("lunch")) == {
        Channel.SMS: stored[Channel.SMS],
        Channel.WHATSAPP: stored[Channel.WHATSAPP],
    }


def test_channel_whatsapp_sends_every_text_on_whatsapp(backend):
    make_poll(slug="lunch", categories=CATEGORIES, status=PollStatus.OPEN, push=True)

    out = simulate(
        "lunch",
        *("--url", backend.webhook_url, "--total", "12", "--voters", "12"),
        *("--channel", "whatsapp", "--rate", "0", "--no-progress"),
    )

    assert out.splitlines()[-1] == "EXACT: the totals equal what was sent."
    assert channels_of_votes("lunch") == Counter({Channel.WHATSAPP: 12})


def test_send_vote_sends_a_whatsapp_message(backend, capsys):
    make_poll(slug="lunch", categories=CATEGORIES, status=PollStatus.OPEN, push=True)

    status = send_vote(["A", "--channel", "whatsapp", "--url", backend.webhook_url])

    assert status == 0
    assert "Thanks! Your vote for Apples has been counted." in capsys.readouterr().out
    assert channels_of_votes("lunch") == Counter({Channel.WHATSAPP: 1})
    assert send_vote(["B", "--url", backend.webhook_url]) == 0  # by SMS, the same phone
    assert "You have already voted for Apples" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("channels", "arguments", "message"),
    [
        (
            PollChannels.SMS,
            ("--channel", "whatsapp"),
            "takes votes by SMS only, not WhatsApp: use --channel sms",
        ),
        (
            PollChannels.SMS,
            ("--whatsapp-share", "0.3"),
            "takes votes by SMS only, not WhatsApp: use --channel sms",
        ),
        (
            PollChannels.WHATSAPP,
            (),
            "takes votes by WhatsApp only, not SMS: use --channel whatsapp",
        ),
    ],
)
def test_traffic_on_a_channel_the_poll_does_not_take_is_refused(aws, channels, arguments, message):
    make_poll(
        slug="lunch",
        categories=CATEGORIES,
        status=PollStatus.OPEN,
        push=True,
        channels=channels.value,
    )

    with pytest.raises(CommandError, match=message):
        simulate("lunch", "--no-progress", *arguments)
    assert vote_items("lunch") == []


def test_channel_and_whatsapp_share_together_are_refused():
    with pytest.raises(CommandError, match="not allowed with argument"):
        simulate("lunch", "--channel", "sms", "--whatsapp-share", "0.5")


def test_an_impossible_whatsapp_share_is_refused():
    with pytest.raises(BadPlan, match="the share of WhatsApp messages must be between 0 and 1"):
        build_plan(PlanSpec(total=10, voters=5, change_share=0, whatsapp_share=1.5))


def test_a_plan_without_whatsapp_is_the_plan_its_seed_gave_before_channels():
    plan = build_plan(PlanSpec(total=300, voters=200, change_share=0.25, seed=3))

    # What seed 3 gave before channels existed (a channel draw only with WhatsApp traffic).
    assert [(m.voter, m.intent.value, round(m.draw, 6)) for m in plan[:6]] == [
        (0, "first", 0.237965),
        (1, "first", 0.369955),
        (2, "first", 0.62572),
        (3, "first", 0.013168),
        (1, "repeat", 0.191744),
        (3, "repeat", 0.397135),
    ]
    assert (sum(m.intent.value == "change" for m in plan), sum(m.voter for m in plan)) == (
        26,
        24869,
    )
    assert {message.channel for message in plan} == {Channel.SMS}


def test_a_whatsapp_share_sends_that_share_on_whatsapp():
    plan = build_plan(PlanSpec(1000, 600, 0.25, 3, whatsapp_share=0.25))

    assert 200 < sum(m.channel is Channel.WHATSAPP for m in plan) < 300
