"""Publishing a poll's public results page to the dashboard bucket.

The page reads the aggregates table itself (Cognito guest credentials): every refresh one of
the poll's viewer items, and every 15 s one of its detail items, each at random among the
copies the tally publishes (lambdas.tally.publisher). So publishing is only needed when what
the page shows about the poll changes: question, choices, status. Objects, per poll and shared:

    polls/<slug>/index.html   the page         short cache: it names the current assets
    polls/<slug>/config.json  what to read     short cache: status changes at close
    assets/<name>-<hash>.js   the SDK bundle   cached for a year: the name changes with it
    assets/<name>-<hash>.css
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import phonenumbers
import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string
from django.utils import timezone
from storages.backends.s3 import S3Storage

from lambdas.shared import keys
from polls.services import aws, tables

if TYPE_CHECKING:
    from polls.models import Poll

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"
BUNDLE = DASHBOARD_DIR / "dist" / "dashboard.js"
STYLESHEET = DASHBOARD_DIR / "src" / "style.css"
# A QR code per category up to this many categories (a screen shows them side by side), else
# one for the number.
QR_PER_CATEGORY_MAX = 6
SHORT_CACHE = "public, max-age=5, must-revalidate"
LONG_CACHE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


class PublishError(aws.ServiceError):
    pass


@dataclass(frozen=True)
class Asset:
    name: str  # content-hashed, e.g. "dashboard-1a2b3c4d5e6f.js"
    content: bytes

    @classmethod
    def from_file(cls, path: Path) -> Asset:
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()[:12]
        return cls(f"{path.stem}-{digest}{path.suffix}", content)


class DashboardStorage(S3Storage):
    """S3 storage that gives every object an explicit Content-Type and Cache-Control (an S3
    object without a Content-Type is served as binary/octet-stream, which browsers download).
    """

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        parameters: dict[str, Any] = super().get_object_parameters(name)
        parameters["ContentType"] = CONTENT_TYPES[Path(name).suffix]
        parameters["CacheControl"] = LONG_CACHE if name.startswith("assets/") else SHORT_CACHE
        return parameters


def storage() -> DashboardStorage:
    return DashboardStorage(
        bucket_name=settings.DASHBOARD_BUCKET,
        region_name=settings.AWS_REGION,
        endpoint_url=settings.AWS_ENDPOINT_URL or None,
        access_key=settings.AWS_ACCESS_KEY_ID,
        secret_key=settings.AWS_SECRET_ACCESS_KEY,
        querystring_auth=False,
        file_overwrite=True,
        default_acl=None,
    )


def page_path(poll: Poll) -> str:
    return f"polls/{poll.slug}/index.html"


def public_url(poll: Poll) -> str:
    return f"{settings.DASHBOARD_BASE_URL.rstrip('/')}/{page_path(poll)}"


def vote_text(keyword: str, code: str) -> str:
    """What a voter texts for a category: its code, after the poll's keyword if it has one."""
    return f"{keyword.upper()} {code}" if keyword else code


def national_number(number: str) -> str:
    """An E.164 number as its country's viewers write it: "(500) 555-0006" for +15005550006,
    the national format elsewhere (phonenumbers, Google's libphonenumber rules); a number
    that no country could have, as it is."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def sms_uri(number: str, body: str = "") -> str:
    """An sms: URI (RFC 5724) that opens the messaging app with `body` to `number`."""
    return f"sms:{number}?{urlencode({'body': body}, quote_via=quote)}" if body else f"sms:{number}"


@dataclass(frozen=True)
class QrCode:
    text: str  # what scanning it fills in: a vote text, or the keyword (or nothing)
    label: str  # what it votes for, or the number
    uri: str
    svg: str  # inline <svg>, dark on light in both themes (scanners want that)

    @classmethod
    def make(cls, number: str, text: str, label: str) -> QrCode:
        uri = sms_uri(number, text)
        svg = segno.make(uri, error="m").svg_inline(
            scale=1, border=4, omitsize=True, dark="#000", light="#fff", svgclass="qr"
        )
        return cls(text, label, uri, svg)


def qr_codes(poll: Poll) -> list[QrCode]:
    """The page's QR codes: one per category, its vote text filled in, up to
    QR_PER_CATEGORY_MAX categories; else one for the number, with the keyword if any."""
    categories = list(poll.categories.all())
    if len(categories) > QR_PER_CATEGORY_MAX:
        keyword = f"{poll.keyword.upper()} " if poll.keyword else ""
        return [QrCode.make(poll.number, keyword, national_number(poll.number))]
    return [QrCode.make(poll.number, vote_text(poll.keyword, c.code), c.label) for c in categories]


def dashboard_config(poll: Poll) -> dict[str, Any]:
    """config.json: where the page reads and what it shows. Public: no secret belongs here."""
    config = poll.to_config()
    document: dict[str, Any] = {
        "region": settings.AWS_REGION,
        "identityPoolId": settings.DASHBOARD_IDENTITY_POOL_ID,
        "table": settings.AGGREGATES_TABLE,
        "pollId": config.poll_id,
        # The copies of what the page reads (lambdas.tally.publisher writes them).
        "viewerKeys": [
            keys.viewer_key(config.poll_id, r)[keys.PARTITION_KEY]["S"]
            for r in range(keys.VIEWER_REPLICAS)
        ],
        "detailKeys": [
            keys.detail_key(config.poll_id, r)[keys.PARTITION_KEY]["S"]
            for r in range(keys.VIEWER_REPLICAS)
        ],
        "question": config.question,
        "number": config.number,
        "numberDisplay": national_number(config.number),
        "keyword": config.keyword,
        # Above 1, the page shows the distinct voters beside the votes.
        "votesPerPhone": config.votes_per_phone,
        "status": config.status.value,
        "opensAt": config.opens_at.isoformat() if config.opens_at else None,
        "closesAt": config.closes_at.isoformat() if config.closes_at else None,
        "categories": [
            {
                "code": c.code,
                "label": c.label,
                "colour": c.colour,
                "text": vote_text(config.keyword, c.code),
                "smsUri": sms_uri(config.number, vote_text(config.keyword, c.code)),
            }
            for c in poll.categories.all()
        ],
    }
    if settings.AWS_ENDPOINT_URL:
        document["endpoint"] = settings.AWS_ENDPOINT_URL
    return document


def publish_dashboard(poll: Poll) -> str:
    """Upload the poll's page, config and the shared assets, and note when on the poll;
    returns the page's public URL."""
    if not settings.DASHBOARD_IDENTITY_POOL_ID:
        raise PublishError(
            "no Cognito identity pool is configured for the dashboard "
            "(set DASHBOARD_IDENTITY_POOL_ID)"
        )
    if not settings.DASHBOARD_BASE_URL:
        raise PublishError("the dashboard's public address is not configured (DASHBOARD_BASE_URL)")
    try:
        script, stylesheet = Asset.from_file(BUNDLE), Asset.from_file(STYLESHEET)
    except OSError as error:
        raise PublishError(
            f"the dashboard bundle is missing ({error}); run `make dashboard`"
        ) from None
    page = render_to_string(
        "dashboard/index.html",
        {
            "question": poll.question,
            "assets_path": "../../assets",
            "script": script.name,
            "stylesheet": stylesheet.name,
            "qr_codes": qr_codes(poll),
        },
    )
    config = json.dumps(dashboard_config(poll), ensure_ascii=False, indent=1)
    bucket = storage()
    uploads = [
        (f"assets/{script.name}", script.content),
        (f"assets/{stylesheet.name}", stylesheet.content),
        # Config before page: a page never names a config that is not there yet.
        (f"polls/{poll.slug}/config.json", config.encode()),
        (page_path(poll), page.encode()),
    ]
    try:
        for name, content in uploads:
            bucket.save(name, ContentFile(content))
    except aws.AWS_ERRORS as error:
        raise PublishError(_describe(error)) from None
    # The copies the page reads: the tally writes them after each vote; a poll counted before
    # it published them, or with no vote since, gets them now.
    tables.publish_totals(poll, PublishError)
    poll.dashboard_published_at = timezone.now()
    poll.save(update_fields=["dashboard_published_at"])
    return public_url(poll)


def unpublish_dashboard(poll: Poll) -> None:
    """Delete the poll's page and config (the shared assets stay: other pages use them)."""
    if poll.dashboard_published_at is None:
        return
    bucket = storage()
    try:
        for name in (page_path(poll), f"polls/{poll.slug}/config.json"):
            bucket.delete(name)
    except aws.AWS_ERRORS as error:
        raise PublishError(_describe(error)) from None


def _describe(error: Exception) -> str:
    bucket = settings.DASHBOARD_BUCKET
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return f"the dashboard bucket {bucket!r} does not exist"
    if code in ("AccessDenied", "AllAccessDisabled"):
        return f"the portal is not allowed to write to the dashboard bucket {bucket!r}"
    return aws.describe(error, "dashboard", bucket)
