"""The signed link a customer follows to pay (again) for an order."""

from datetime import timedelta

from django.conf import settings
from django.core import signing

from orders.models import Order
from payments.services.inputs import PaymentRefused

PAY_LINK_SALT = "payments.pay-again"


def pay_link_token(order: Order) -> str:
    return signing.dumps({"order": order.pk, "token": order.public_token}, salt=PAY_LINK_SALT)


def pay_link_url(order: Order) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/orders/pay/{pay_link_token(order)}/"


def order_for_pay_link(token: str) -> Order:
    """The order a pay link belongs to; PaymentRefused when it is tampered with or expired."""
    try:
        data = signing.loads(
            token, salt=PAY_LINK_SALT, max_age=timedelta(days=settings.PAY_LINK_MAX_AGE_DAYS)
        )
    except signing.SignatureExpired as exc:
        raise PaymentRefused("This payment link has expired; contact us for a new one.") from exc
    except signing.BadSignature as exc:
        raise PaymentRefused("This payment link is not valid.") from exc
    order = Order.objects.filter(pk=data.get("order"), public_token=data.get("token")).first()
    if order is None:
        raise PaymentRefused("This payment link is not valid.")
    return order
