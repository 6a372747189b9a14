"""Drafts staff fill in before placing: lines through the service, a note with the placing."""

import pytest

from orders import services
from orders.exceptions import InvalidOrder, TransitionRefused
from orders.models import EventType, Order
from orders.services import DraftLine
from orders.tests.factories import BERLIN, CustomerFactory
from payments.models import CreditAccount

pytestmark = pytest.mark.django_db


def _draft(catalogue, email: str = "caller@example.com") -> Order:
    customer = CustomerFactory(email=email)
    CreditAccount.objects.create(customer=customer, credit_limit="1000.00")
    order = Order(
        channel="phone", customer=customer, shipping_method=catalogue["standard"], email=""
    )
    return services.order_save_draft(
        order=order, shipping_address=BERLIN.to_model(), actor="support"
    )


def _lines(order: Order) -> list[tuple[str, int]]:
    return sorted(order.lines.values_list("product__sku", "quantity"))


def test_lines_are_added_changed_and_removed(catalogue):
    order = _draft(catalogue)
    services.order_save_draft_lines(
        order_id=order.pk,
        lines=[DraftLine(catalogue["mug"], 2), DraftLine(catalogue["tee"], 1)],
        actor="support",
    )
    assert _lines(order) == [("MUG-001", 2), ("TEE-001", 1)]
    mug, tee = order.lines.order_by("product__sku")

    services.order_save_draft_lines(
        order_id=order.pk,
        lines=[
            DraftLine(catalogue["mug"], 3, line_id=mug.pk),
            DraftLine(catalogue["tee"], 1, line_id=tee.pk, delete=True),
            DraftLine(catalogue["lamp"], 1),
        ],
        actor="support",
    )
    assert _lines(order) == [("LAMP-001", 1), ("MUG-001", 3)]
    # each change is on the timeline, with who made it
    notes = list(
        order.events.filter(type=EventType.NOTE, message__startswith="Draft lines").order_by("pk")
    )
    assert [note.message for note in notes] == [
        "Draft lines: 2 × MUG-001, 1 × TEE-001.",
        "Draft lines: 3 × MUG-001, 1 × LAMP-001.",
    ]
    assert all(note.actor_label == "support" for note in notes)


def test_a_line_of_another_order_or_without_a_product_is_refused(catalogue):
    order, other = _draft(catalogue), _draft(catalogue, email="other@example.com")
    services.order_save_draft_lines(
        order_id=other.pk, lines=[DraftLine(catalogue["mug"], 1)], actor="support"
    )
    foreign = other.lines.get()
    with pytest.raises(InvalidOrder):
        services.order_save_draft_lines(
            order_id=order.pk,
            lines=[DraftLine(catalogue["mug"], 5, line_id=foreign.pk)],
            actor="support",
        )
    with pytest.raises(InvalidOrder):
        services.order_save_draft_lines(
            order_id=order.pk, lines=[DraftLine(None, 1)], actor="support"
        )
    assert _lines(order) == []
    assert _lines(other) == [("MUG-001", 1)]


def test_placing_with_a_note_puts_both_on_the_timeline_and_then_lines_are_fixed(catalogue):
    order = _draft(catalogue)
    services.order_save_draft_lines(
        order_id=order.pk, lines=[DraftLine(catalogue["mug"], 1)], actor="support"
    )

    services.order_place_draft(order_id=order.pk, actor="support", note="Called at 9:10.")

    order.refresh_from_db()
    assert order.status == "received"
    assert order.events.filter(type=EventType.NOTE, message="Called at 9:10.").count() == 1
    with pytest.raises(TransitionRefused):
        services.order_save_draft_lines(
            order_id=order.pk, lines=[DraftLine(catalogue["tee"], 1)], actor="support"
        )
    assert _lines(order) == [("MUG-001", 1)]
