import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from orders.exceptions import DomainError
from orders.json_bodies import JsonBodyRefused, load_json_object, read_body
from orders.webhook_signing import SignatureInvalid, verify
from warehouse.exceptions import DownloadRefused
from warehouse.models import Shipment
from warehouse.services.downloads import download_open
from warehouse.services.tracking import TRACKING_STATUSES, shipment_track

logger = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 64 * 1024
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=status
    )


def _occurred_at(raw: Any) -> tuple[datetime | None, str]:
    """The carrier's time of the event (None when it sent none), or why it is refused. Only
    times from EARLIEST_EVENT_TIME to a day from now: PostgreSQL would store a time whose UTC
    falls in year 10000 or before year 1, but the database driver cannot read it back, and
    every page showing the shipment would fail."""
    if raw is None:
        return None, ""
    try:
        occurred_at = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        occurred_at = None
    if occurred_at is None or occurred_at.tzinfo is None:
        return None, "An ISO 8601 time with a time zone, e.g. 2026-11-26T10:00:00Z."
    if not EARLIEST_EVENT_TIME <= occurred_at <= timezone.now() + timedelta(days=1):
        return None, (
            f"A time from {EARLIEST_EVENT_TIME:%Y-%m-%d} to a day from now (UTC); "
            f"{raw!r} is outside that."
        )
    return occurred_at, ""


@csrf_exempt  # authenticated by the HMAC signature instead
@require_POST
def tracking_webhook(request: HttpRequest) -> JsonResponse:
    """Carrier tracking updates. See the README for the JSON format and the signature."""
    try:
        body = read_body(request, max_bytes=MAX_WEBHOOK_BYTES)
        verify(body, request.headers.get("X-Signature", ""), settings.TRACKING_WEBHOOK_SECRET)
        payload = load_json_object(body)
    except JsonBodyRefused as exc:
        return exc.as_response()
    except SignatureInvalid as exc:
        return _error(400, "bad_signature", str(exc))
    fields: dict[str, list[str]] = {}
    event_id = payload.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 128:
        fields["event_id"] = ["A string of at most 128 characters is required."]
    if any(isinstance(v, str) and "\x00" in v for v in payload.values()):
        return _error(400, "bad_json", "NUL characters are not allowed.")
    status = payload.get("status")
    if not isinstance(status, str) or status not in TRACKING_STATUSES:
        fields["status"] = [f"One of {', '.join(TRACKING_STATUSES)}."]
    number = payload.get("tracking_number")
    if not isinstance(number, str) or not number.strip():
        fields["tracking_number"] = ["Required."]
    occurred_at, problem = _occurred_at(payload.get("occurred_at"))
    if problem:
        fields["occurred_at"] = [problem]
    if fields:
        return _error(422, "invalid", "The event is not valid.", fields)
    shipments = Shipment.objects.filter(tracking_number=number.strip().upper())
    if isinstance(payload.get("carrier"), str) and payload["carrier"]:
        shipments = shipments.filter(carrier=payload["carrier"].lower())
    shipment = shipments.first()
    if shipment is None:
        return _error(404, "unknown_tracking_number", f"No shipment with tracking number {number}.")
    try:
        result = shipment_track(
            shipment_id=shipment.pk,
            status=status,
            actor=f"carrier {shipment.get_carrier_display()}",
            event_id=event_id.strip(),
            description=str(payload.get("description") or ""),
            location=str(payload.get("location") or ""),
            occurred_at=occurred_at,
        )
    except DomainError as exc:
        return _error(422, exc.code, exc.message, exc.fields)
    return JsonResponse({"received": True, "result": result})


@never_cache
@require_GET
def download(request: HttpRequest, token: str) -> HttpResponse:
    try:
        grant = download_open(token=token)
    except DownloadRefused as exc:
        return render(
            request, "warehouse/download_refused.html", {"message": exc.message}, status=403
        )
    asset = grant.asset
    try:
        handle = default_storage.open(asset.file.name, "rb")
    except OSError:
        logger.exception("download file missing", extra={"asset": asset.pk})
        return render(
            request,
            "warehouse/download_refused.html",
            {"message": "The file is not available right now; we have been told. Try again later."},
            status=503,
        )
    return FileResponse(handle, as_attachment=True, filename=asset.filename)
