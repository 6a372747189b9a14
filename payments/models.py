"""Payments, refunds and invoices (lifecycle step 4, and the refunds of step 10).

Payment has its own state machine (DESIGN.md). Every call to a provider is a
PaymentOperation row with a fixed idempotency key, written before the call: a crash or a
timeout leaves a pending operation that the reconcile task repeats with the same key, so the
provider never charges or refunds twice.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AUTHORIZED = "authorized", "Authorised"
    CAPTURED = "captured", "Captured"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided"
    INVOICED = "invoiced", "Invoiced"
    PAID = "paid", "Paid"
    OVERDUE = "overdue", "Overdue"


P = PaymentStatus

# The states in which a payment covers its order: the money is taken or held on the card, or
# owed on invoice terms (an overdue invoice is still owed: Finance chases it, the customer is
# not asked to pay again). Deciding whether an order needs paying, which payment to secure,
# and whether a late authorisation is one too many all use this one list.
PAID_OR_PROMISED: tuple[str, ...] = (P.AUTHORIZED, P.CAPTURED, P.INVOICED, P.PAID, P.OVERDUE)


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card"
    INVOICE = "invoice", "Invoice"


class Provider(models.TextChoices):
    TEST = "test", "Test gateway"
    INVOICE = "invoice", "Invoice terms"
    STRIPE = "stripe", "Stripe"


class CreditAccount(models.Model):
    """Invoice terms for a business customer or partner, set by Finance."""

    class Terms(models.IntegerChoices):
        NET_15 = 15, "Net 15"
        NET_30 = 30, "Net 30"
        NET_60 = 60, "Net 60"

    customer = models.OneToOneField(
        "orders.Customer", on_delete=models.CASCADE, related_name="credit_account"
    )
    terms_days = models.PositiveSmallIntegerField(choices=Terms.choices, default=Terms.NET_30)
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("5000"))
    currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_limit__gte=0), name="credit_limit_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer}: {self.get_terms_days_display()}, limit {self.credit_limit}"


class Payment(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    status = FSMField(
        max_length=20, choices=PaymentStatus.choices, default=P.PENDING, protected=True
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    amount_captured = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    amount_refunded = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    # A provider's reusable reference to the card (a token or payment method id), never the
    # card number itself.
    payment_token = models.CharField(max_length=128, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    provider_reference = models.CharField(max_length=128, blank=True, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_captured__gte=0) & Q(amount_captured__lte=F("amount")),
                name="payment_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount_captured")),
                name="payment_refunded_within_captured",
            ),
        ]
        permissions = [
            ("capture_payment", "Can capture payments"),
            ("void_payment", "Can void payments"),
            ("refund_payment", "Can refund payments"),
            ("record_invoice_payment", "Can mark invoices paid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} {self.currency} ({self.status})"

    @property
    def refundable(self) -> Decimal:
        return self.amount_captured - self.amount_refunded

    @property
    def card_went_through(self) -> bool:
        """The card was accepted: authorised, or already captured."""
        return self.status in (P.AUTHORIZED, P.CAPTURED)

    # --- transitions: state only ---

    @transition(field=status, source=P.PENDING, target=P.AUTHORIZED)
    def authorize(self) -> None:
        pass

    @transition(field=status, source=[P.PENDING, P.AUTHORIZED], target=P.FAILED)
    def fail(self) -> None:
        """Declined at authorisation, or at capture (an authorisation that lapsed)."""

    # A transition's `permission` is what Finance needs to ask for it in the staff console
    # (payments.selectors.payment_staff_actions); services check the state, not the user.

    @transition(
        field=status, source=P.AUTHORIZED, target=P.CAPTURED, permission="payments.capture_payment"
    )
    def capture(self) -> None:
        pass

    @transition(
        field=status, source=P.AUTHORIZED, target=P.VOIDED, permission="payments.void_payment"
    )
    def void(self) -> None:
        """The authorisation is given back to the card."""

    @transition(field=status, source=P.PENDING, target=P.VOIDED)
    def void_unsent(self) -> None:
        """Voided before the provider authorised anything (the order was cancelled first);
        an authorisation that still comes back is given back by a void."""

    @transition(
        field=status,
        source=[P.CAPTURED, P.PARTIALLY_REFUNDED],
        target=P.PARTIALLY_REFUNDED,
        permission="payments.refund_payment",
    )
    def refund_part(self) -> None:
        pass

    @transition(
        field=status,
        source=[P.CAPTURED, P.PARTIALLY_REFUNDED],
        target=P.REFUNDED,
        permission="payments.refund_payment",
    )
    def refund_all(self) -> None:
        pass

    @transition(field=status, source=P.PENDING, target=P.INVOICED)
    def invoice(self) -> None:
        pass

    @transition(
        field=status,
        source=[P.INVOICED, P.OVERDUE],
        target=P.PAID,
        permission="payments.record_invoice_payment",
    )
    def mark_paid(self) -> None:
        pass

    @transition(field=status, source=P.INVOICED, target=P.OVERDUE)
    def mark_overdue(self) -> None:
        pass

    @transition(field=status, source=[P.INVOICED, P.OVERDUE], target=P.VOIDED)
    def cancel_invoice(self) -> None:
        pass


class OperationKind(models.TextChoices):
    AUTHORIZE = "authorize", "Authorise"
    CAPTURE = "capture", "Capture"
    VOID = "void", "Void"
    REFUND = "refund", "Refund"


class OperationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class PaymentOperation(models.Model):
    """One call to a provider. Written (pending) and committed before the call; its
    idempotency key is sent with every try."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    idempotency_key = models.CharField(max_length=128, unique=True)
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_reference = models.CharField(max_length=128, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    refund = models.OneToOneField(
        "Refund", null=True, blank=True, on_delete=models.CASCADE, related_name="operation"
    )
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="payment_op_retry_queue")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.status})"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reason = models.CharField(max_length=255)
    lines = models.JSONField(default=list, blank=True, help_text="Optional: [{sku, quantity}]")
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    # One key per request (a form renders one): a double click finds the first refund.
    idempotency_key = models.CharField(max_length=128, unique=True)
    provider_reference = models.CharField(max_length=128, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} ({self.status})"


class Invoice(models.Model):
    """A numbered invoice: one per paid order. An order on invoice terms gets it when the
    order is secured, with a due date; a card order gets it when the card is captured, paid
    in full and with no due date. Both take their number from the one gapless sequence."""

    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="invoice_record")
    number = models.CharField(max_length=32, unique=True)
    issued_at = models.DateTimeField(default=timezone.now)
    due_date = models.DateField(
        null=True, blank=True, help_text="Invoice terms only: a card invoice is paid when issued."
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    paid_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(paid_amount__gte=0) & Q(paid_amount__lte=F("amount")),
                name="invoice_paid_within_amount",
            )
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def balance(self) -> Decimal:
        return self.amount - self.paid_amount

    @property
    def paid_by_card(self) -> bool:
        return self.payment.method == PaymentMethod.CARD


class InvoicePayment(models.Model):
    """Money received against an invoice (a bank transfer), recorded by Finance."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="receipts")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    received_on = models.DateField(default=timezone.localdate)
    reference = models.CharField(max_length=128, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_on", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_payment_positive")
        ]

    def __str__(self) -> str:
        return f"{self.amount} on {self.received_on}"


class ProviderEvent(models.Model):
    """A webhook event from a provider, kept once by its id so a replay changes nothing."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=128)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="provider_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"


class InvoiceSequence(models.Model):
    """Gapless invoice numbers per year: the row is locked while a number is taken."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class CheckoutStatus(models.TextChoices):
    NEW = "new", "Not opened yet"
    OPEN = "open", "Open: the customer is paying"
    COMPLETE = "complete", "Complete: the card is authorised"
    EXPIRED = "expired", "Expired unpaid"
    NOT_OPENED = "not_opened", "Never opened"


class CheckoutSession(models.Model):
    """A card payment made on the provider's own payment page (Stripe Checkout), so that no
    card number ever reaches this server. Written with its payment (pending), opened at the
    provider when the customer is sent there, and closed by whichever comes first: the
    provider's webhook, the customer's return, or the reconcile task asking the provider."""

    payment = models.OneToOneField(Payment, on_delete=models.CASCADE, related_name="checkout")
    status = models.CharField(
        max_length=16, choices=CheckoutStatus.choices, default=CheckoutStatus.NEW
    )
    # The provider's session id (cs_...), once opened.
    session_id = models.CharField(max_length=255, blank=True)
    url = models.URLField(max_length=2048, blank=True)
    # A random secret in our return addresses: it finds this row, and only this row.
    return_token = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    opened_at = models.DateTimeField(null=True, blank=True)
    # When the reconcile task (or a return) last asked the provider about the session.
    checked_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["session_id"],
                condition=~Q(session_id=""),
                name="checkout_session_id_once",
            ),
            models.CheckConstraint(
                condition=Q(status=CheckoutStatus.NEW)
                | Q(status=CheckoutStatus.NOT_OPENED)
                | ~Q(session_id=""),
                name="checkout_opened_has_session_id",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="checkout_open_queue")]

    def __str__(self) -> str:
        return f"{self.session_id or 'checkout'} ({self.status})"
