"""The votes stream's order, as the tally's watermarks need it: one invocation per stream shard.

With DynamoDB Streams, Lambda keeps records in order per item, not per partition key, once
ParallelizationFactor is above 1; the tally's watermark per vote shard (a partition key) is
only sound when a shard's records arrive in order (docs/ARCHITECTURE.md)."""

from __future__ import annotations

from deploy.aws.transform import to_cloudformation, with_code
from deploy.template import load_template, tally_stream_mapping

CODE = {"IngestFunction": ("artifacts", "ingest.zip"), "TallyFunction": ("artifacts", "tally.zip")}


def test_the_deployed_votes_stream_mapping_runs_one_tally_per_shard():
    template = to_cloudformation(with_code(load_template(), CODE), "us-east-1")
    mappings = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
    }

    (mapping,) = mappings.values()
    assert mapping["FunctionName"] == {"Ref": "TallyFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["VotesTable", "StreamArn"]}
    assert mapping["ParallelizationFactor"] == 1


def test_the_template_reader_gives_the_tallys_parallelization_factor():
    assert tally_stream_mapping().parallelization_factor == 1


def test_the_template_reader_reads_a_raised_parallelization_factor():
    template = load_template()
    (event,) = template["Resources"]["TallyFunction"]["Properties"]["Events"].values()
    event["Properties"]["ParallelizationFactor"] = 4

    assert tally_stream_mapping(template).parallelization_factor == 4
