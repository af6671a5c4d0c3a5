"""Load generation against an ingest webhook: signed Twilio traffic, exact expected totals.

Django-free, so the portal's `simulate_votes` command and the benchmarks in bench/ share it:

- `plan`: which voter sends what, in which order (seeded, repeat voters, changes, a mix);
- `webhook`: signed POSTs exactly as Twilio sends them, over reused connections;
- `schedule`: paces the plan at a target rate and never has two texts of one voter in flight;
- `replies`: what each TwiML reply says happened (accepted, duplicate, changed, rejected);
- `ledger`: the final counts the poll must reach, from what was sent and what was answered;
- `allowance`: the same, and each reply word for word, for a poll with several votes per phone;
- `latency`: percentiles, and vote-to-total latency from the totals observed over time;
- `runner`: runs all of it and watches the totals until they converge;
- `report`: the summary people read, and the same as JSON.
"""
