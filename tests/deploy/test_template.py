"""deploy/template.yaml: valid, and the source the local backend and the contract agree with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploy.template import load_template, table_definitions, tally_stream_mapping
from lambdas.shared import keys


def test_template_passes_cfn_lint():
    result = subprocess.run(
        [Path(sys.executable).with_name("cfn-lint"), "deploy/template.yaml"],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_tables_use_the_contracts_key_attributes():
    tables = table_definitions()

    assert set(tables) == {"ConfigTable", "VotesTable", "AggregatesTable"}
    for table in tables.values():
        assert table.key_schema[0] == {"AttributeName": keys.PARTITION_KEY, "KeyType": "HASH"}
    assert tables["VotesTable"].key_schema[1]["AttributeName"] == keys.SORT_KEY
    assert tables["VotesTable"].stream_view_type == "NEW_AND_OLD_IMAGES"


def test_functions_run_on_python_312_and_point_at_real_handlers():
    template = load_template()
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }

    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert {f["Handler"] for f in functions.values()} == {
        "lambdas.ingest.handler.handler",
        "lambdas.tally.handler.handler",
    }


def test_stream_mapping_reports_item_failures_with_bounded_retries():
    mapping = tally_stream_mapping()

    assert mapping.report_item_failures and mapping.bisect
    assert 0 <= mapping.max_retries <= 100
