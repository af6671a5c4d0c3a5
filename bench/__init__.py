"""Benchmarks behind docs/PERFORMANCE.md (`make bench`; each also runs alone):

- `bench.ingest`: ingest CPU per vote (warm), DynamoDB requests per outcome, the emulator's
  round trip, cold import time;
- `bench.tally`: tally CPU per record and DynamoDB requests per batch;
- `bench.package`: deployment package sizes, and that each imports with the runtime alone;
- `bench.export`: CSV export of 200,000 votes, rows/s and peak memory;
- `bench.dashboard`: requests and bytes per dashboard refresh per viewer;
- `bench.end_to_end`: votes/s and vote-to-total latency on the local backend, against the
  emulator's raw PutItem rate;
- `bench.scale`: TV scale (issue 14): a 24-hour show on 128 vote keys through the real tally,
  publisher and page reads, scaled to 100,000 votes/s and 100,000 viewers, beside today's
  design (one aggregate item per poll) on the same show;
- `bench.cost_model`: the AWS capacity and cost model (deploy/capacity_model.py, which
  `manage.py capacity` plans a show with too), from the results of the others.

Each prints a table and writes bench/results/<name>.json with the machine and the date.
Benchmarks measure; the tests in tests/ assert behaviour and never speed.
"""
