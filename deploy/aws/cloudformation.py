"""The CloudFormation side of a deployment: finding the stack, change sets, following events.

Django-free and given its client, so tests drive it against moto or botocore's Stubber.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deploy.aws.errors import AWS_ERRORS, DeployError, describe

Report = Callable[[str], None]
EventHook = Callable[[dict[str, Any]], None]
Sleep = Callable[[float], None]

# Statuses from which a change set of type UPDATE can be made.
UPDATABLE = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
)
# A stack that only holds a change set so far: a change set of type CREATE makes it.
CREATABLE = frozenset({"REVIEW_IN_PROGRESS"})
# A first creation that failed and was rolled back: it must be deleted to be created again.
FAILED_CREATE = "ROLLBACK_COMPLETE"
SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE"})
# What CloudFormation says when a change set would change nothing.
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# Follow-on failures that only say another resource failed first.
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")


@dataclass(frozen=True)
class Stack:
    stack_id: str
    name: str
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    status_reason: str = ""

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> Stack:
        return cls(
            stack_id=described["StackId"],
            name=described["StackName"],
            status=described["StackStatus"],
            parameters={
                p["ParameterKey"]: p.get("ParameterValue", "")
                for p in described.get("Parameters") or []
            },
            outputs={
                o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs") or []
            },
            status_reason=described.get("StackStatusReason", ""),
        )

    @property
    def busy(self) -> bool:
        return self.status.endswith("_IN_PROGRESS") and self.status not in CREATABLE


def find_stack(cfn: Any, name_or_id: str, region: str) -> Stack | None:
    """The stack, or None when there is none by that name (or it was deleted)."""
    try:
        stacks = cfn.describe_stacks(StackName=name_or_id)["Stacks"]
    except cfn.exceptions.ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            return None
        raise describe(error, f"looking up the stack {name_or_id}", region) from None
    except AWS_ERRORS as error:
        raise describe(error, f"looking up the stack {name_or_id}", region) from None
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return Stack.from_description(stacks[0])


def deployed_template(cfn: Any, stack: Stack, region: str) -> dict[str, Any]:
    """The template the stack was last deployed with, as it was submitted."""
    try:
        body = cfn.get_template(StackName=stack.stack_id, TemplateStage="Original")["TemplateBody"]
    except AWS_ERRORS as error:
        raise describe(error, f"reading the template of {stack.name}", region) from None
    # botocore decodes JSON bodies itself; a YAML or odd body arrives as text.
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    return dict(body)


@dataclass(frozen=True)
class ChangeSet:
    arn: str
    stack_id: str
    changes: list[dict[str, Any]]


def create_change_set(
    cfn: Any,
    *,
    stack_name: str,
    change_set_type: str,
    template_url: str,
    parameters: Mapping[str, str],
    region: str,
    poll_seconds: float,
    sleep: Sleep = time.sleep,
) -> ChangeSet | None:
    """Create a change set and wait until CloudFormation has worked it out; None: no changes."""
    name = f"deploy-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    try:
        created = cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            ChangeSetType=change_set_type,
            TemplateURL=template_url,
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in sorted(parameters.items())
            ],
            # Roles without explicit names; the template is already transformed (no macros).
            Capabilities=["CAPABILITY_IAM"],
            Description="manage.py deploy",
        )
    except AWS_ERRORS as error:
        raise describe(error, f"creating a change set for {stack_name}", region) from None
    arn = created["Id"]
    while True:
        try:
            described = cfn.describe_change_set(ChangeSetName=arn)
        except AWS_ERRORS as error:
            raise describe(error, f"reading the change set {name}", region) from None
        status = described["Status"]
        if status == "CREATE_COMPLETE":
            return ChangeSet(arn, created["StackId"], _all_changes(cfn, described))
        if status == "FAILED":
            reason = described.get("StatusReason", "")
            if any(phrase in reason for phrase in _NO_CHANGES):
                _delete_change_set(cfn, arn)
                return None
            raise DeployError(f"CloudFormation refused the change: {reason or status}")
        sleep(poll_seconds)


def _all_changes(cfn: Any, described: Mapping[str, Any]) -> list[dict[str, Any]]:
    changes = list(described.get("Changes") or [])
    token = described.get("NextToken")
    while token:
        page = cfn.describe_change_set(ChangeSetName=described["ChangeSetId"], NextToken=token)
        changes.extend(page.get("Changes") or [])
        token = page.get("NextToken")
    return changes


def _delete_change_set(cfn: Any, arn: str) -> None:
    # An empty change set left behind is harmless: CloudFormation lists it as failed.
    with contextlib.suppress(*AWS_ERRORS):
        cfn.delete_change_set(ChangeSetName=arn)


def change_lines(changes: list[dict[str, Any]]) -> list[str]:
    """One line per resource change: action, logical id, type, and whether it is replaced."""
    lines = []
    for change in changes:
        resource = change.get("ResourceChange") or {}
        replacement = resource.get("Replacement", "")
        note = {"True": "  (replaced)", "Conditional": "  (may be replaced)"}.get(replacement, "")
        lines.append(
            f"  {resource.get('Action', '?'):<7} {resource.get('LogicalResourceId', '?')} "
            f"({resource.get('ResourceType', '?')}){note}"
        )
    return lines


def replacements(changes: list[dict[str, Any]], kept: frozenset[str]) -> list[str]:
    """The resources among `kept` (logical ids) that the changes would or may replace."""
    replaced = []
    for change in changes:
        resource = change.get("ResourceChange") or {}
        if resource.get("LogicalResourceId") in kept and resource.get("Replacement") in {
            "True",
            "Conditional",
        }:
            replaced.append(f"{resource['LogicalResourceId']} ({resource.get('ResourceType')})")
    return replaced


class EventFollower:
    """Reports a stack's new events, oldest first, as CloudFormation records them."""

    def __init__(self, cfn: Any, stack_id: str, report: Report, on_event: EventHook) -> None:
        self._cfn = cfn
        self._stack_id = stack_id
        self._report = report
        self._on_event = on_event
        self._seen: set[str] = set()
        self.failures: list[str] = []

    def skip_existing(self) -> None:
        """Events recorded so far are history: only later ones are reported."""
        for event in self._newest_first():
            self._seen.add(event["EventId"])

    def report_new(self) -> None:
        new = []
        for event in self._newest_first():
            if event["EventId"] in self._seen:
                break
            new.append(event)
        for event in reversed(new):
            self._seen.add(event["EventId"])
            self._report(event_line(event))
            if failure := failure_of(event):
                self.failures.append(failure)
            self._on_event(event)

    def _newest_first(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        paginator = self._cfn.get_paginator("describe_stack_events")
        for page in paginator.paginate(StackName=self._stack_id):
            events.extend(page["StackEvents"])
            if any(event["EventId"] in self._seen for event in page["StackEvents"]):
                break
        return events


def event_line(event: Mapping[str, Any]) -> str:
    timestamp = event.get("Timestamp")
    when = timestamp.astimezone(UTC).strftime("%H:%M:%S") if timestamp else "--:--:--"
    line = (
        f"{when}  {event.get('ResourceStatus', ''):<32} {event.get('LogicalResourceId', '')} "
        f"({event.get('ResourceType', '')})"
    )
    reason = event.get("ResourceStatusReason")
    return f"{line}: {reason}" if reason else line


def failure_of(event: Mapping[str, Any]) -> str | None:
    """'Logical id (type): reason' for a resource that failed on its own, else None."""
    if not str(event.get("ResourceStatus", "")).endswith("_FAILED"):
        return None
    reason = event.get("ResourceStatusReason") or "no reason given"
    if any(phrase in reason for phrase in _CANCELLED):
        return None
    return f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): {reason}"


def follow(
    cfn: Any,
    follower: EventFollower,
    stack_id: str,
    region: str,
    poll_seconds: float,
    sleep: Sleep = time.sleep,
) -> str:
    """Report events until the stack is no longer in progress; returns its final status."""
    while True:
        try:
            follower.report_new()
            described = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        except cfn.exceptions.ClientError as error:
            if "does not exist" not in error.response.get("Error", {}).get("Message", ""):
                raise describe(error, "following the stack's progress", region) from None
            # Some endpoints (moto) forget a deleted stack instead of describing it as such.
            described = {"StackStatus": "DELETE_COMPLETE"}
        except AWS_ERRORS as error:
            raise describe(error, "following the stack's progress", region) from None
        status: str = described["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            if status != "DELETE_COMPLETE":  # a deleted stack's last events were reported
                try:
                    follower.report_new()
                except AWS_ERRORS as error:
                    raise describe(error, "following the stack's progress", region) from None
            if status not in SUCCEEDED:
                raise DeployError(failure_message(status, follower.failures, described))
            return status
        sleep(poll_seconds)


def failure_message(status: str, failures: list[str], described: Mapping[str, Any]) -> str:
    causes = failures or [described.get("StackStatusReason") or "CloudFormation gave no reason"]
    outcome = {
        "ROLLBACK_COMPLETE": "the stack was not created; CloudFormation rolled it back",
        "UPDATE_ROLLBACK_COMPLETE": "the update failed; the stack is back as it was before",
    }.get(status, f"the stack ended in {status}")
    return f"{outcome}. Cause:\n  " + "\n  ".join(causes)


def execute(
    cfn: Any,
    change_set: ChangeSet,
    report: Report,
    region: str,
    *,
    poll_seconds: float,
    on_event: EventHook,
    sleep: Sleep = time.sleep,
) -> Stack:
    """Execute the change set, reporting its progress; returns the stack once it succeeded."""
    follower = EventFollower(cfn, change_set.stack_id, report, on_event)
    try:
        follower.skip_existing()
        cfn.execute_change_set(ChangeSetName=change_set.arn)
    except AWS_ERRORS as error:
        raise describe(error, "executing the change set", region) from None
    follow(cfn, follower, change_set.stack_id, region, poll_seconds, sleep)
    stack = find_stack(cfn, change_set.stack_id, region)
    if stack is None:
        raise DeployError("the stack disappeared while it was being deployed")
    return stack


def delete(
    cfn: Any,
    stack: Stack,
    report: Report,
    region: str,
    *,
    poll_seconds: float,
    sleep: Sleep = time.sleep,
) -> None:
    """Delete the stack, reporting its progress, and wait until it is gone."""
    follower = EventFollower(cfn, stack.stack_id, report, lambda event: None)
    try:
        follower.skip_existing()
        cfn.delete_stack(StackName=stack.stack_id)
    except AWS_ERRORS as error:
        raise describe(error, f"deleting the stack {stack.name}", region) from None
    follow(cfn, follower, stack.stack_id, region, poll_seconds, sleep)


def resources(cfn: Any, stack: Stack, region: str) -> list[dict[str, Any]]:
    """The stack's resources (logical id, type, physical id, status)."""
    try:
        pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack.stack_id)
        return [summary for page in pages for summary in page["StackResourceSummaries"]]
    except AWS_ERRORS as error:
        raise describe(error, f"listing the resources of {stack.name}", region) from None
