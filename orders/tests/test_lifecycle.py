"""The lifecycle interface: every moment calls the registered phases in lifecycle order, a
phase refusing a placement rolls all of it back, a phase refusing a release leaves the order
held, and the registry lists the phases in the order the business runs them."""

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

import pytest
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from config import lifecycle as registry
from orders import services
from orders.api.lifecycle import PartnerWebhooksPhase
from orders.exceptions import DomainError
from orders.lifecycle import CheckResult, OrderPhase, ReviewCheck, registered_phases
from orders.models import (
    Channel,
    EventType,
    HoldReason,
    Notification,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
)
from orders.permissions import CUSTOMER_SERVICE
from orders.tests.factories import BERLIN, CustomerFactory, place_order, staff_user
from payments.lifecycle import PaymentsPhase
from payments.models import Payment
from warehouse.lifecycle import WarehousePhase
from warehouse.models import (
    Product,
    ShippingMethod,
    StockItem,
    StockMovement,
    StockReservation,
)
from warehouse.services.shipments import fulfil_if_nothing_to_ship

pytestmark = pytest.mark.django_db

# Stand-ins for the registered phases, in registration order. That order is neither
# alphabetical nor its reverse, so a registry walked in any other order shows here.
LIFECYCLE_ORDER = ("payments", "warehouse", "partner_webhooks")


class Heard(NamedTuple):
    moment: str
    phase: str
    order_id: int | None


class RecordingPhase(OrderPhase):
    """Takes part in every moment and writes down what it heard, in the order it heard it."""

    def __init__(self, name: str, heard: list[Heard]) -> None:
        self.name = name
        self.heard = heard

    def _hear(self, moment: str, order: Order | None) -> None:
        self.heard.append(Heard(moment, self.name, order.pk if order is not None else None))

    def placing(self, *, order: Order, payment: Any, actor: Any) -> None:
        self._hear("placing", order)

    def review_checks(self) -> Sequence[ReviewCheck]:
        self._hear("review_checks", None)
        return (self._check,)

    def _check(self, order: Order) -> CheckResult:
        self._hear("review_check", order)
        return CheckResult(f"{self.name}_check", passed=True, message=f"{self.name} agrees.")

    def releasing(self, *, order: Order, reasons: Sequence[str], actor: Any) -> None:
        self._hear("releasing", order)

    def released(self, *, order: Order, reasons: Sequence[str], actor: Any) -> None:
        self._hear("released", order)

    def confirmed(self, *, order: Order, actor: Any) -> None:
        self._hear("confirmed", order)

    def ready(self, *, order: Order, actor: Any) -> None:
        self._hear("ready", order)

    def delivered(self, *, order: Order, actor: Any) -> None:
        self._hear("delivered", order)

    def cancelled(self, *, order: Order, actor: Any) -> None:
        self._hear("cancelled", order)

    def open_items(self, *, order: Order) -> Sequence[str]:
        self._hear("open_items", order)
        return ()

    def completed(self, *, order: Order, actor: Any) -> None:
        self._hear("completed", order)

    def order_event(self, *, order: Order, event: str, data: dict[str, Any]) -> None:
        self._hear(f"order_event {event}", order)

    def staff_panel(self, *, order: Order, request: Any) -> str:
        self._hear("staff_panel", order)
        return format_html('<div class="phase-panel">{} panel</div>', self.name)


@pytest.fixture
def heard(monkeypatch) -> list[Heard]:
    """Registers recording phases in place of the real ones; returns what they hear."""
    journal: list[Heard] = []
    monkeypatch.setattr(
        registry, "PHASES", tuple(RecordingPhase(name, journal) for name in LIFECYCLE_ORDER)
    )
    return journal


# --- drivers: each prepares an order, forgets what the phases heard so far, then calls the
# --- service that reaches the moment, and returns the order's id ------------------------


def _placed(**kwargs: Any) -> Order:
    return place_order(**kwargs).order


def _confirmed(**kwargs: Any) -> Order:
    return services.order_review(order_id=_placed(**kwargs).pk)


def _ready(**kwargs: Any) -> Order:
    order = _confirmed(**kwargs)
    return services.order_secure_payment(order_id=order.pk, actor="payments", message="Paid.")


def _ready_ebook() -> Order:
    """Digital goods only: fulfilled straight from `ready`, no shipment needed."""
    return _ready(
        lines=[("EBOOK-001", 1)],
        shipping_address=None,
        shipping_method=None,
        billing_address=BERLIN,
    )


def _fulfil(order_id: int) -> Order:
    """The warehouse's own path for an order with nothing to ship."""
    with transaction.atomic():
        order = services.lock_order(order_id)
        fulfil_if_nothing_to_ship(order, actor="warehouse")
    return Order.objects.get(pk=order_id)


def reach_placing_from_the_web(heard: list[Heard], client: Any) -> int:
    return _placed().pk


def reach_placing_from_a_staff_draft(heard: list[Heard], client: Any) -> int:
    agent = staff_user(CUSTOMER_SERVICE)
    standard = ShippingMethod.objects.get(code="standard")
    draft = Order(channel=Channel.PHONE, customer=CustomerFactory(), shipping_method=standard)
    services.order_save_draft(order=draft, actor=agent, shipping_address=BERLIN.to_model())
    OrderLine.objects.create(order=draft, product=Product.objects.get(sku="MUG-001"), quantity=1)
    heard.clear()
    return services.order_place_draft(order_id=draft.pk, actor=agent).order.pk


def reach_review(heard: list[Heard], client: Any) -> int:
    order = _placed()
    heard.clear()
    return services.order_review(order_id=order.pk).pk


def reach_confirmed_by_release(heard: list[Heard], client: Any) -> int:
    order = _confirmed()
    services.order_hold(order_id=order.pk, actor="test", reason=HoldReason.MANUAL)
    heard.clear()
    return services.order_release(order_id=order.pk, actor="test", note="Checked.").pk


def reach_ready(heard: list[Heard], client: Any) -> int:
    order = _confirmed()
    heard.clear()
    return services.order_secure_payment(order_id=order.pk, actor="payments", message="Paid.").pk


def reach_delivered(heard: list[Heard], client: Any) -> int:
    order = _ready_ebook()
    heard.clear()
    return _fulfil(order.pk).pk


def reach_completed(heard: list[Heard], client: Any) -> int:
    order = _fulfil(_ready_ebook().pk)
    past_the_return_window = timezone.now() - timedelta(days=settings.RETURN_WINDOW_DAYS + 1)
    Order.objects.filter(pk=order.pk).update(delivered_at=past_the_return_window)
    heard.clear()
    return services.order_complete(order_id=order.pk, actor="system").pk


def reach_cancelled(heard: list[Heard], client: Any) -> int:
    order = _confirmed()
    heard.clear()
    return services.order_cancel(order_id=order.pk, actor="test", reason="Changed my mind").pk


def reach_held(heard: list[Heard], client: Any) -> int:
    order = _confirmed()
    heard.clear()
    return services.order_hold(order_id=order.pk, actor="test", reason=HoldReason.MANUAL).pk


def reach_staff_panel(heard: list[Heard], client: Any) -> int:
    order = _confirmed()
    client.force_login(staff_user(CUSTOMER_SERVICE))
    heard.clear()
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    return order.pk


Reach = Callable[[list[Heard], Any], int]

MOMENTS: list[tuple[str, Reach]] = [
    ("placing", reach_placing_from_the_web),
    ("placing", reach_placing_from_a_staff_draft),
    ("order_event order.created", reach_placing_from_the_web),
    ("review_checks", reach_review),
    ("review_check", reach_review),
    ("confirmed", reach_review),
    ("order_event order.confirmed", reach_review),
    ("releasing", reach_confirmed_by_release),
    ("released", reach_confirmed_by_release),
    ("confirmed", reach_confirmed_by_release),
    ("order_event order.on_hold", reach_held),
    ("ready", reach_ready),
    ("delivered", reach_delivered),
    ("order_event order.delivered", reach_delivered),
    ("open_items", reach_completed),
    ("completed", reach_completed),
    ("order_event order.completed", reach_completed),
    ("cancelled", reach_cancelled),
    ("order_event order.cancelled", reach_cancelled),
    ("staff_panel", reach_staff_panel),
]


@pytest.mark.parametrize(
    ("moment", "reach"),
    MOMENTS,
    ids=[f"{moment}-by-{reach.__name__.removeprefix('reach_')}" for moment, reach in MOMENTS],
)
def test_every_moment_calls_the_registered_phases_in_lifecycle_order(
    client, catalogue, heard, moment, reach
):
    # when a real service reaches the moment
    order_id = reach(heard, client)

    # then each registered phase heard it once, about that order, in lifecycle order
    expected_order = None if moment == "review_checks" else order_id
    assert [(h.phase, h.order_id) for h in heard if h.moment == moment] == [
        (name, expected_order) for name in LIFECYCLE_ORDER
    ]


def test_the_review_runs_the_phases_checks_after_the_orders_own_and_records_them(catalogue, heard):
    # when
    order = services.order_review(order_id=_placed().pk)

    # then
    assert order.status == OrderStatus.CONFIRMED
    checks = [
        event.data["check"]
        for event in order.events.filter(type=EventType.REVIEW_CHECK).order_by("pk")
    ]
    assert checks[-len(LIFECYCLE_ORDER) :] == [f"{name}_check" for name in LIFECYCLE_ORDER]
    assert {"stock", "address", "fraud", "limit"} <= set(checks[: -len(LIFECYCLE_ORDER)])


def test_the_staff_console_shows_the_phases_panels_in_lifecycle_order(client, catalogue, heard):
    # given
    order = _confirmed()
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))

    # then
    html = response.content.decode()
    positions = [
        html.index(f'<div class="phase-panel">{name} panel</div>') for name in LIFECYCLE_ORDER
    ]
    assert positions == sorted(positions)


# --- a phase refusing the placement -------------------------------------------------------


class PlacementRefused(DomainError):
    code = "placement_refused"
    http_status = 422


class RefusingPhase(OrderPhase):
    """Registered after the real phases: refuses every placement, once it has seen what the
    placement and the phases before it had written."""

    name = "refusing"

    def __init__(self) -> None:
        self.raised: PlacementRefused | None = None
        self.saw: dict[str, int] = {}

    def placing(self, *, order: Order, payment: Any, actor: Any) -> None:
        self.saw = _rows()
        self.raised = PlacementRefused("This phase refuses the order.")
        raise self.raised


def _rows() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "events": OrderEvent.objects.count(),
        "reserved": StockItem.objects.aggregate(units=Sum("reserved"))["units"] or 0,
        "reservations": StockReservation.objects.count(),
        "movements": StockMovement.objects.count(),
        "notifications": Notification.objects.count(),
        "payments": Payment.objects.count(),
    }


@pytest.mark.parametrize(
    ("payment", "written_by_the_payments_phase"),
    [("card", "payments"), (None, "notifications")],
    ids=["card-payment-row", "pay-by-link-notification"],
)
def test_a_phase_refusing_the_placement_rolls_all_of_it_back(
    catalogue,
    monkeypatch,
    django_capture_on_commit_callbacks,
    payment,
    written_by_the_payments_phase,
):
    # given the real phases, then one that refuses
    refusing = RefusingPhase()
    monkeypatch.setattr(registry, "PHASES", (*registry.PHASES, refusing))

    # when
    with (
        django_capture_on_commit_callbacks() as after_commit,
        pytest.raises(PlacementRefused) as raised,
    ):
        place_order([("MUG-001", 3)], payment=payment)

    # then the refusal reaches the caller as the phase raised it
    assert raised.value is refusing.raised
    # and what the placement and the earlier phases had written when it was refused...
    assert refusing.saw["orders"] == refusing.saw["lines"] == 1
    assert refusing.saw["reserved"] == 3
    assert refusing.saw["reservations"] >= 1
    assert refusing.saw["movements"] >= 1
    assert refusing.saw["events"] >= 1
    assert refusing.saw[written_by_the_payments_phase] == 1
    # ...is all gone, and nothing waits for a commit (no review, no authorisation, no mail)
    assert _rows() == dict.fromkeys(refusing.saw, 0)
    assert after_commit == []


# --- a phase refusing a release ------------------------------------------------------------


class ReleaseRefused(DomainError):
    code = "release_refused"
    http_status = 409


class RefusingReleasePhase(OrderPhase):
    """Registered after the real phases: refuses to let a manual hold go, and notes the
    reasons it was asked about."""

    name = "refusing_release"

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def releasing(self, *, order: Order, reasons: Sequence[str], actor: Any) -> None:
        self.asked.append(sorted(reasons))
        if HoldReason.MANUAL in reasons:
            raise ReleaseRefused("This phase still has a question about the order.")


def test_a_phase_refusing_the_release_changes_nothing(
    catalogue, monkeypatch, django_capture_on_commit_callbacks
):
    # given a confirmed order held by hand, and a phase that refuses manual releases
    order = _confirmed()
    services.order_hold(order_id=order.pk, actor="test", reason=HoldReason.FRAUD_RISK)
    services.order_hold(order_id=order.pk, actor="test", reason=HoldReason.MANUAL)
    refusing = RefusingReleasePhase()
    monkeypatch.setattr(registry, "PHASES", (*registry.PHASES, refusing))
    events_before = OrderEvent.objects.filter(order=order).count()

    # when
    with (
        django_capture_on_commit_callbacks() as after_commit,
        pytest.raises(ReleaseRefused, match="still has a question"),
    ):
        services.order_release(order_id=order.pk, actor="test", note="Checked.")

    # then the phase was asked about every open reason, and the order is still held by both
    assert refusing.asked == [[HoldReason.FRAUD_RISK, HoldReason.MANUAL]]
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert sorted(order.active_hold_reasons()) == [HoldReason.FRAUD_RISK, HoldReason.MANUAL]
    assert OrderEvent.objects.filter(order=order).count() == events_before
    assert after_commit == []


# --- the registry ---------------------------------------------------------------------------


def test_the_registry_lists_payments_then_warehouse_then_partner_webhooks():
    assert [type(phase) for phase in registry.PHASES] == [
        PaymentsPhase,
        WarehousePhase,
        PartnerWebhooksPhase,
    ]
    assert [phase.name for phase in registered_phases()] == [
        "payments",
        "warehouse",
        "partner_webhooks",
    ]
