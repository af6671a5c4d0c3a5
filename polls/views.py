"""The portal's views outside the admin's own pages: live results as JSON, CSV downloads and
the audit pack as a zip.

Each takes a logged-in staff user and only reaches the polls organisers.polls_of(user) lists:
another organiser's poll is a 404, exactly like a poll that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET

from polls.models import Poll
from polls.organisers import polls_of
from polls.services import audit_pack, exports
from polls.services.results import ResultsError, read_results, results_document


def _poll(request: HttpRequest, poll_id: int) -> Poll:
    if not request.user.has_perm("polls.view_poll"):
        # The admin would refuse such a user every poll page; so does the portal.
        return get_object_or_404(Poll.objects.none())
    return get_object_or_404(polls_of(request.user), pk=poll_id)


def _back_to(poll: Poll) -> HttpResponseRedirect:
    return redirect("admin:polls_poll_change", poll.pk)


@staff_member_required
@require_GET
def results_json(request: HttpRequest, poll_id: int) -> JsonResponse:
    """The results panel's data; the change page polls it."""
    poll = _poll(request, poll_id)
    headers = {"Cache-Control": "no-store"}
    try:
        results = read_results(poll)
    except ResultsError as error:
        return JsonResponse(
            {"error": f"Results are unavailable: {error}."}, status=503, headers=headers
        )
    document = {
        "poll": poll.slug,
        "state": poll.to_config().voting_state(timezone.now()).value,
        **results_document(results),
    }
    return JsonResponse(document, headers=headers)


@staff_member_required
@require_GET
def results_csv(request: HttpRequest, poll_id: int) -> HttpResponse | StreamingHttpResponse:
    poll = _poll(request, poll_id)
    try:
        results = read_results(poll)
    except ResultsError as error:
        messages.error(request, f"The results of “{poll}” were not exported: {error}.")
        return _back_to(poll)
    return _csv_download(exports.results_rows(results), f"{poll.slug}-results.csv")


@staff_member_required
@require_GET
def votes_csv(request: HttpRequest, poll_id: int) -> HttpResponse | StreamingHttpResponse:
    poll = _poll(request, poll_id)
    try:
        rows = exports.vote_rows(poll)
    except exports.ExportError as error:
        messages.error(request, f"The votes of “{poll}” were not exported: {error}.")
        return _back_to(poll)
    # A failure after the first page aborts the download, so a cut-off file never looks whole.
    return _csv_download(rows, f"{poll.slug}-votes.csv")


@staff_member_required
@require_GET
def audit_pack_zip(request: HttpRequest, poll_id: int) -> HttpResponse | FileResponse:
    """The pack (polls/services/audit_pack.py), written to a temporary file and streamed from
    it (deleted once sent)."""
    poll = _poll(request, poll_id)
    try:
        archive = audit_pack.audit_pack_zip(poll)
    except audit_pack.AuditPackError as error:
        messages.error(request, f"The audit pack of “{poll}” was not written: {error}.")
        return _back_to(poll)
    response = FileResponse(
        archive,
        as_attachment=True,
        filename=f"{audit_pack.folder_name(poll)}.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "no-store"
    return response


def _csv_download(rows: Iterable[exports.Row], filename: str) -> StreamingHttpResponse:
    return StreamingHttpResponse(
        exports.csv_chunks(rows, bom=True),
        content_type="text/csv; charset=utf-8",
        headers={
            # Slugs are letters, digits, - and _: nothing to quote.
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
