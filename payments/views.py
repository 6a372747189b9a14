from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orders.json_bodies import JsonBodyRefused, read_body
from payments.providers import get_provider
from payments.providers.base import WebhookRejected
from payments.webhooks import webhook_receive

MAX_WEBHOOK_BYTES = 256 * 1024


def _refused(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


@csrf_exempt  # authenticated by the provider's signature instead
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        body = read_body(request, max_bytes=MAX_WEBHOOK_BYTES)
        event = get_provider("stripe").parse_webhook(
            payload=body,
            headers={"Stripe-Signature": request.headers.get("Stripe-Signature", "")},
        )
    except JsonBodyRefused as exc:
        return exc.as_response()
    except WebhookRejected as exc:
        return _refused(exc.status, exc.code, f"Rejected: {exc}")
    result = webhook_receive(provider="stripe", event=event)
    return JsonResponse({"received": True, "result": result})
