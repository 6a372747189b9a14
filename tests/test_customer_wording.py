"""What customers read: one label per order state on every page, parcels in words on the
timeline, a carrier named once, countries by their names (codes stay in the API and the
data), emails in sentences and with the link to the order."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from orders.api.tests.conftest import make_partner, order_body
from orders.models import Notification, NotificationChannel, Order, OrderStatus
from orders.notifications import KIND_LABELS, order_page_url, render_notification
from orders.shop.order_links import order_path
from orders.tests.factories import (
    LONDON,
    CustomerFactory,
    UserFactory,
    checkout_form,
    place_order,
)
from payments.invoices import invoice_pdf
from payments.models import CreditAccount, Invoice
from payments.services import PaymentInput
from payments.tests.pdf_text import pdf_text
from warehouse.models import ShipmentStatus
from warehouse.services import shipping, tracking
from warehouse.tests.test_fulfilment import _pack_all, _pick_all, _ready

pytestmark = pytest.mark.django_db
SS = ShipmentStatus


def _page(client, order: Order) -> str:
    response = client.get(order_path(order))
    assert response.status_code == 200
    return response.content.decode()


def _timeline(html: str) -> list[str]:
    section = html[html.index('id="h-timeline"') :]
    return [
        re.sub(r"\s+", " ", entry).strip()
        for entry in re.findall(r"</time>(.*?)</li>", section, re.S)
    ]


def _mail(kind: str):
    """The one email whose subject says `kind`."""
    found = [m for m in mail.outbox if kind in m.subject]
    assert len(found) == 1, [m.subject for m in mail.outbox]
    return found[0]


def _html(message) -> str:
    return next(body for body, mime in message.alternatives if mime == "text/html")


def _ships_in_one_parcel(capture, picker, box) -> Order:
    order = _ready(capture, [("MUG-001", 1)])
    _pick_all([order.pk], picker)
    _pack_all(order, picker, box)
    with capture(execute=True):
        shipping.shipment_ship(
            shipment_id=order.shipments.get().pk,
            carrier="dhl",
            tracking_number="1234567890",
            actor=picker,
        )
    return order


# --- one label per state -------------------------------------------------------------------


def test_my_orders_and_the_order_page_say_the_same_for_each_state(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given: Ada's order released to the warehouse, and one not reviewed yet
    ada = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    with django_capture_on_commit_callbacks(execute=True):
        ready = place_order(user=ada).order
    received = place_order(user=ada).order
    assert Order.objects.get(pk=ready.pk).status == OrderStatus.READY
    assert Order.objects.get(pk=received.pk).status == OrderStatus.RECEIVED
    client.force_login(ada)

    # when
    listing = client.get(reverse("orders:account-orders")).content.decode()
    ready_page = client.get(reverse("orders:account-order", args=[ready.number])).content
    received_page = client.get(reverse("orders:account-order", args=[received.number])).content

    # then: the list and each order's page use the customer's label, never the staff one
    assert "Confirmed: waiting for the warehouse" in listing
    assert "Received: we are checking your order" in listing
    assert "Confirmed: waiting for the warehouse" in ready_page.decode()
    assert "Received: we are checking your order" in received_page.decode()
    assert "Ready for the warehouse" not in listing + ready_page.decode()


# --- parcels and carriers ------------------------------------------------------------------


def test_one_parcel_is_told_in_words_from_shipped_to_delivered(
    client, catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    # given: one parcel shipped with DHL's standard service
    order = _ships_in_one_parcel(django_capture_on_commit_callbacks, picker, box)
    shipment = order.shipments.get()

    # when: the carrier reports it on its way, a problem, and then the delivery
    with django_capture_on_commit_callbacks(execute=True):
        tracking.shipment_track(
            shipment_id=shipment.pk, status=SS.IN_TRANSIT, location="Leipzig", actor="carrier"
        )
        tracking.shipment_track(
            shipment_id=shipment.pk,
            status=SS.EXCEPTION,
            description="Address not found",
            actor="carrier",
        )
        tracking.shipment_track(shipment_id=shipment.pk, status=SS.DELIVERED, actor="carrier")

    # then: the timeline speaks of the parcel, not of "Shipment 9: In transit"
    html = _page(client, order)
    timeline = _timeline(html)
    for entry in (
        "Shipped with DHL Paket, tracking 1234567890.",
        "Your parcel is on its way with DHL Paket (tracking 1234567890), last seen in Leipzig.",
        "Your parcel could not be delivered as planned: Address not found.",
        "Delivered.",
    ):
        assert entry in timeline, timeline
    assert f"Shipment {shipment.pk}" not in html
    # the carrier is named once, on the page and in the email
    assert "DHL Paket, tracking number 1234567890" in html
    assert "DHL (DHL Paket)" not in html
    shipped = _mail("is on its way")
    assert "Carrier: DHL Paket\n" in shipped.body
    assert "Carrier: <strong>DHL Paket</strong>" in _html(shipped)


def test_each_of_several_parcels_is_numbered_as_on_the_delivery_panel(
    client, catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    # given: lamps only in London, most mugs only in Berlin: two parcels
    order = _ready(django_capture_on_commit_callbacks, [("LAMP-001", 1), ("MUG-001", 55)])
    _pick_all([order.pk], picker)
    _pack_all(order, picker, box)
    first, second = order.shipments.order_by("pk")

    # when: both ship, and the first arrives
    with django_capture_on_commit_callbacks(execute=True):
        shipping.shipment_ship(
            shipment_id=first.pk, carrier="ups", tracking_number="1Z999AA10123456784", actor=picker
        )
        shipping.shipment_ship(
            shipment_id=second.pk,
            carrier="dhl",
            service_level="DHL Express Worldwide",
            tracking_number="1234567890",
            actor=picker,
        )
        tracking.shipment_track(shipment_id=first.pk, status=SS.IN_TRANSIT, actor="carrier")
        tracking.shipment_track(shipment_id=first.pk, status=SS.DELIVERED, actor="carrier")

    # then
    html = _page(client, order)
    timeline = _timeline(html)
    for entry in (
        "Parcel 1 of 2 shipped with UPS Standard, tracking 1Z999AA10123456784.",
        "Parcel 2 of 2 shipped with DHL Express Worldwide, tracking 1234567890.",
        "Parcel 1 of 2 is on its way with UPS Standard (tracking 1Z999AA10123456784).",
        "Parcel 1 of 2 has been delivered.",
    ):
        assert entry in timeline, timeline
    assert "Parcel 1 of 2: Delivered" in html
    assert "Parcel 2 of 2: Shipped" in html


# --- emails ------------------------------------------------------------------------------------


def test_every_email_starts_a_sentence_after_the_greeting_and_links_the_order(
    client, catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    # given: an order confirmed, paid, shipped and delivered (five emails)
    order = _ships_in_one_parcel(django_capture_on_commit_callbacks, picker, box)
    with django_capture_on_commit_callbacks(execute=True):
        tracking.shipment_track(
            shipment_id=order.shipments.get().pk, status=SS.DELIVERED, actor="carrier"
        )
    assert len(mail.outbox) >= 4

    # then: each text email has a capital letter after "Hello ...,"; the delivered email
    # links the order like the others do
    for message in mail.outbox:
        assert re.match(r"Hello[^\n]*,\n\n[A-Z]", message.body), message.body
    delivered = _mail("has been delivered")
    link = re.search(r"View your order: (\S+)", delivered.body).group(1)
    assert f'<a href="{link}"' in _html(delivered)
    assert "View your order" in _mail("is on its way").body
    opened = client.get(re.sub(r"^https?://[^/]+", "", link))
    assert opened.status_code == 200
    assert f"Order {order.number}" in opened.content.decode()


@pytest.mark.parametrize("kind", sorted(KIND_LABELS))
def test_each_kind_of_email_reads_as_sentences_and_links_the_order(
    catalogue, kind, signing_clock_held
):
    # given: an order, and one email of each kind about it
    order = place_order(customer_name="Ada Lovelace").order
    notification = Notification(
        order=order, kind=kind, channel=NotificationChannel.EMAIL, recipient=order.email
    )

    # when
    _subject, text, html = render_notification(notification)

    # then: "Hello Ada Lovelace," and then a sentence; the order's link in both parts
    assert re.match(r"Hello Ada Lovelace,\n\n[A-Z]", text), text
    url = order_page_url(order)
    assert f"View your order: {url}" in text
    assert f'href="{url}"' in html and f"View your order {order.number}</a>" in html


def test_the_password_reset_email_reads_as_sentences(client):
    # given: a customer who forgot the password
    UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)

    # when
    client.post(reverse("orders:password-reset"), {"email": "ada@example.com"})

    # then: "Hello," and then sentences, each paragraph starting with a capital letter, and
    # the link on a line of its own
    [message] = mail.outbox
    assert message.subject == "Reset your Orderflow password"
    assert re.match(r"Hello,\n\n[A-Z]", message.body), message.body
    paragraphs = [p.strip() for p in message.body.split("\n\n") if p.strip()]
    for paragraph in paragraphs:
        assert re.match(r"[A-Z]|https?://\S+$", paragraph), paragraph
        assert paragraph.endswith((",", ".", ":")) or paragraph.startswith("http"), paragraph
    assert "Orderflow account for ada@example.com." in message.body
    assert re.search(r"^http://testserver/account/password-reset/\S+/$", message.body, re.M)


# --- countries -----------------------------------------------------------------------------


def test_countries_are_named_where_people_read_them_and_coded_in_the_api(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given: a partner's order to London
    acme = make_partner("Acme", billing_email="billing@acme.example")
    assert order_body()["shipping_address"]["country"] == "GB"
    with django_capture_on_commit_callbacks(execute=True):
        created = acme.post_order()
    assert created.status_code == 201, created.json()
    order = Order.objects.get(number=created.json()["number"])

    # then: the customer's page, its address page and the confirmation email name the country
    page = _page(client, order)
    address = re.search(r'<address class="address">(.*?)</address>', page, re.S).group(1)
    assert address.split("<br>")[-1] == "United Kingdom"
    token = order_path(order).rstrip("/").rsplit("/", 1)[-1]
    change = client.get(reverse("orders:order-link-address", args=[token])).content.decode()
    assert "It ships within United Kingdom;" in change
    confirmation = _mail("is confirmed")
    assert "  United Kingdom\n" in confirmation.body
    assert "\n  GB\n" not in confirmation.body
    assert "United Kingdom<br>" in _html(confirmation)
    # the partner API and the data keep the code
    api = acme.client.get(f"/api/v1/orders/{order.number}/").json()
    assert api["shipping_address"]["country"] == "GB"
    assert order.shipping_address.country == "GB"


def test_the_invoice_names_the_billing_country(catalogue, django_capture_on_commit_callbacks):
    # given: a business customer on invoice terms, shipping (and so billing) to London
    customer = CustomerFactory(email="buyer@acme.example", name="Acme Ltd", company="Acme Ltd")
    CreditAccount.objects.create(customer=customer, terms_days=30, credit_limit=500)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(
            email="buyer@acme.example",
            shipping_address=LONDON,
            payment=PaymentInput(method="invoice"),
        ).order

    # when
    text = pdf_text(invoice_pdf(Invoice.objects.get(payment__order=order)))

    # then
    assert "N1 9GU London United Kingdom" in text


def test_a_postal_code_error_names_the_country(client, catalogue):
    data = checkout_form(client, **{"shipping-postal_code": "1234"})

    response = client.post(reverse("orders:checkout"), data)

    assert response.status_code == 400
    assert "is not a valid postal code for Germany." in response.content.decode()
    assert not Order.objects.exists()
