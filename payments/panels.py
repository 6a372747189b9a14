"""The payments phase's panel on the staff console's order page. Kept apart from the admin
module, so the lifecycle (which workers load too) does not import the staff console."""

from django.http import HttpRequest
from django.template.loader import render_to_string

from orders.models import Order
from payments.selectors import order_payment_summary


def payment_panel(order: Order, request: HttpRequest) -> str:
    """The order page's payment summary: paid, refunded and due, with the payments."""
    if order.number is None or not request.user.has_perm("payments.view_payment"):
        return ""
    payments = list(order.payments.select_related("invoice_record"))
    return render_to_string(
        "admin/payments/order_panel.html",
        {
            "order": order,
            "payments": payments,
            "summary": order_payment_summary(order, payments),
            # The invoice PDF opens in the Invoices admin, which checks this permission too.
            "can_view_invoices": request.user.has_perm("payments.view_invoice"),
        },
        request=request,
    )
