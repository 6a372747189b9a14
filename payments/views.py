from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.providers import get_provider
from payments.providers.base import WebhookRejected
from payments.webhooks import webhook_receive

MAX_WEBHOOK_BYTES = 256 * 1024


@csrf_exempt  # authenticated by the provider's signature instead
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"error": "payload too large"}, status=413)
    try:
        event = get_provider("stripe").parse_webhook(
            payload=request.body,
            headers={"Stripe-Signature": request.headers.get("Stripe-Signature", "")},
        )
    except WebhookRejected as exc:
        return JsonResponse({"error": f"rejected: {exc}"}, status=400)
    result = webhook_receive(provider="stripe", event=event)
    return JsonResponse({"received": True, "result": result})
