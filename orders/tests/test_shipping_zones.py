"""Shipping zones: a shipping method delivers to some countries (optionally some postal codes
of them), or everywhere when its zone is empty. Placing checks the zone for every channel;
staff drafts and a customer's change of address are refused outside it; the console edits
zones; the demo data has them."""

from dataclasses import asdict
from decimal import Decimal

import pytest
from django.contrib.messages import constants as message_levels
from django.core.exceptions import ValidationError
from django.urls import reverse

from orders import services
from orders.exceptions import InvalidOrder
from orders.management.commands.seed_demo import EU, seed_catalogue
from orders.models import Address, Order, OrderEvent, OrderStatus
from orders.permissions import CUSTOMER_SERVICE
from orders.services import AddressInput, OrderGrant
from orders.tests.factories import (
    BERLIN,
    LONDON,
    CustomerFactory,
    ShippingMethodFactory,
    UserFactory,
    place_order,
    staff_user,
)
from warehouse.models import ShippingMethod, StockItem

pytestmark = pytest.mark.django_db

MUNICH = AddressInput(
    name="Ada Lovelace", line1="Marienplatz 1", city="München", postal_code="80331", country="DE"
)
LOCAL_REFUSED_IN_LONDON = "Own delivery (Berlin) does not deliver to United Kingdom."
LOCAL_REFUSED_IN_MUNICH = (
    "Own delivery (Berlin) delivers in Germany only to postal codes starting with 10, 12, 13, "
    "140 or 141, not to 80331."
)


@pytest.fixture
def local(catalogue):
    return ShippingMethodFactory(
        code="local",
        name="Own delivery (Berlin)",
        carrier="own",
        price=Decimal("0.00"),
        countries=["DE"],
        postal_code_prefixes=["10", "12", "13", "140", "141"],
    )


def _reserved():
    return sum(StockItem.objects.values_list("reserved", flat=True))


# --- the zone -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("countries", "prefixes", "country", "postal_code", "serves"),
    [
        ([], [], "JP", "100-0001", True),  # empty: everywhere
        (["DE", "AT"], [], "AT", "1010", True),
        (["DE", "AT"], [], "GB", "N1 9GU", False),
        (["DE"], ["10", "11"], "DE", "10119", True),
        (["DE"], ["10", "11"], "DE", "80331", False),
        (["DE"], ["10", "11"], "de", " 11 011 ", True),  # case and spaces do not matter
        (["GB"], ["SW1"], "GB", "sw1a 1aa", True),
        (["GB"], ["SW1"], "GB", "", False),
    ],
)
def test_a_method_serves_the_addresses_inside_its_zone(
    countries, prefixes, country, postal_code, serves
):
    method = ShippingMethod(countries=countries, postal_code_prefixes=prefixes)
    assert method.serves(country, postal_code) is serves


# --- placing, on every channel ------------------------------------------------------------


@pytest.mark.parametrize("channel", ["web", "phone", "api"])
def test_placing_with_a_method_outside_its_zone_is_refused_and_writes_nothing(
    catalogue, local, channel
):
    with pytest.raises(InvalidOrder) as refused:
        place_order(shipping_address=LONDON, shipping_method="local", channel=channel)

    assert refused.value.fields == {
        "shipping_method": [f"{LOCAL_REFUSED_IN_LONDON} Choose another shipping method."]
    }
    assert not Order.objects.exists()
    assert not Address.objects.exists()
    assert _reserved() == 0


def test_placing_inside_the_zone_is_fine_and_a_postal_code_outside_it_is_not(catalogue, local):
    with pytest.raises(InvalidOrder) as refused:
        place_order(shipping_address=MUNICH, shipping_method="local")
    assert refused.value.fields["shipping_method"] == [
        f"{LOCAL_REFUSED_IN_MUNICH} Choose another shipping method."
    ]

    order = place_order(shipping_address=BERLIN, shipping_method="local").order
    assert order.shipping_method == local
    assert order.shipping_total == Decimal("0.00")


def test_the_quote_refuses_what_placing_refuses_and_prices_what_it_prices(catalogue, local):
    lines = [services.LineInput("MUG-001", 2)]
    with pytest.raises(InvalidOrder) as refused:
        services.order_quote(lines=lines, shipping_address=LONDON, shipping_method="local")
    assert list(refused.value.fields) == ["shipping_method"]

    quote = services.order_quote(lines=lines, shipping_address=LONDON, shipping_method="express")
    order = place_order([("MUG-001", 2)], shipping_address=LONDON, shipping_method="express").order
    assert (quote.lines_total, quote.shipping_total, quote.tax_total, quote.grand_total) == (
        order.lines_total,
        order.shipping_total,
        order.tax_total,
        order.grand_total,
    )


# --- staff drafts ---------------------------------------------------------------------------


def test_a_draft_outside_the_methods_zone_is_not_saved(catalogue, local):
    customer = CustomerFactory()
    draft = Order(channel="phone", customer=customer, shipping_method=local)

    with pytest.raises(InvalidOrder) as refused:
        services.order_save_draft(order=draft, actor="support", shipping_address=LONDON.to_model())

    assert refused.value.fields == {"shipping_method": [LOCAL_REFUSED_IN_LONDON]}
    assert not Order.objects.exists()
    assert not Address.objects.exists()


def _draft_form(customer, method, **address):
    return {
        "channel": "phone",
        "customer": str(customer.pk),
        "email": "",
        "phone": "",
        "shipping_method": str(method.pk),
        "shipping_name": "Grace Hopper",
        "shipping_line1": "1 Main St",
        "shipping_city": "London",
        "shipping_postal_code": "N1 9GU",
        "shipping_country": "GB",
        "billing_same": "on",
        "customer_note": "",
        "staff_note": "",
        "lines-TOTAL_FORMS": "0",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        **address,
    }


def _management_data(page):
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{inline.formset.prefix}-{key}"] = management[key].value()
    return data


def test_the_console_refuses_a_draft_whose_method_does_not_deliver_there(client, catalogue, local):
    # given customer service on the add-order page
    client.force_login(staff_user(CUSTOMER_SERVICE))
    add_url = reverse("admin:orders_order_add")
    page = client.get(add_url)
    assert "Own delivery (Berlin) · DE: 10, 12, 13, 140, 141" in page.content.decode()

    # when they save a London order with Own delivery (Berlin)
    customer = CustomerFactory()
    data = {**_draft_form(customer, local), **_management_data(page)}
    response = client.post(add_url, data)

    # then the form says so on the shipping method, and nothing is saved
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["shipping_method"] == [f"{LOCAL_REFUSED_IN_LONDON} Choose another one."]
    assert not Order.objects.exists()

    # and with a method that delivers to London it is saved
    data["shipping_method"] = str(catalogue["standard"].pk)
    assert client.post(add_url, data).status_code == 302
    assert Order.objects.get().shipping_method == catalogue["standard"]


def test_placing_a_draft_whose_method_no_longer_delivers_there_is_refused(client, catalogue, local):
    # given a Berlin draft with the local delivery, and then the address moved to Munich
    # while the zone did not change (saved before the check, as drafts from before zones)
    customer = CustomerFactory()
    draft = services.order_save_draft(
        order=Order(channel="phone", customer=customer, shipping_method=local),
        actor="support",
        shipping_address=BERLIN.to_model(),
    )
    services.order_save_draft_lines(
        order_id=draft.pk, lines=[services.DraftLine(catalogue["mug"], 1)], actor="support"
    )
    Address.objects.filter(pk=draft.shipping_address_id).update(postal_code="80331")
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when staff press Place order
    response = client.post(
        reverse("admin:orders_order_action", args=[draft.pk, "place"]),
        {"action": "place"},
        follow=True,
    )

    # then it is refused with the reason, and the draft stays a draft with nothing reserved
    errors = [str(m) for m in response.context["messages"] if m.level == message_levels.ERROR]
    assert len(errors) == 1
    assert LOCAL_REFUSED_IN_MUNICH in errors[0]
    draft.refresh_from_db()
    assert draft.status == OrderStatus.DRAFT
    assert _reserved() == 0


# --- the customer's change of address -------------------------------------------------------


def test_a_customer_cannot_move_an_order_outside_its_methods_zone(client, catalogue, local):
    # given Ada's order to Berlin by Own delivery (Berlin)
    user = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    CustomerFactory(email="ada@example.com", user=user)
    order = place_order(email=user.email, user=user, payment=None, shipping_method="local").order
    events = OrderEvent.objects.filter(order=order).count()

    # when she asks to move it to Munich
    with pytest.raises(InvalidOrder) as refused:
        services.order_change_shipping_address(
            order_id=order.pk, grant=OrderGrant.signed_in(user), address=MUNICH
        )

    # then it is refused on the postal code, and nothing changes
    message = f"{LOCAL_REFUSED_IN_MUNICH} To send the order elsewhere, cancel it and order again."
    assert refused.value.fields == {"postal_code": [message]}
    order.refresh_from_db()
    assert order.shipping_address.postal_code == "10119"
    assert OrderEvent.objects.filter(order=order).count() == events

    # and on her order page the form shows it on the postal code
    client.force_login(user)
    response = client.post(
        reverse("orders:account-order-address", args=[order.number]),
        asdict(MUNICH),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["postal_code"] == [message]

    # while another Berlin address is fine
    services.order_change_shipping_address(
        order_id=order.pk,
        grant=OrderGrant.signed_in(user),
        address=AddressInput(
            name="Ada", line1="Invalidenstraße 50", city="Berlin", postal_code="10115", country="DE"
        ),
    )
    order.refresh_from_db()
    assert order.shipping_address.postal_code == "10115"


# --- the console: editing zones ---------------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    user = UserFactory(username="root", is_superuser=True)
    client.force_login(user)
    return client


def _method_form(**overrides):
    return {
        "code": "local",
        "name": "Own delivery (Berlin)",
        "carrier": "own",
        "price": "0.00",
        "currency": "EUR",
        "handling_days": "2",
        "transit_days_min": "1",
        "transit_days_max": "1",
        "is_active": "on",
        "countries": "",
        "postal_code_prefixes": "",
        **overrides,
    }


def test_staff_edit_a_zone_as_typed_codes(admin_client):
    # given the add page, which says what an empty zone means
    url = reverse("admin:warehouse_shippingmethod_add")
    page = admin_client.get(url).content.decode()
    assert "Leave empty to deliver everywhere we ship" in page

    # when a zone is typed in lower case with commas and spaces
    response = admin_client.post(
        url, _method_form(countries="de, at de", postal_code_prefixes="10, 11,12;10")
    )

    # then it is kept as capitals in the order typed, without repeats
    assert response.status_code == 302
    method = ShippingMethod.objects.get(code="local")
    assert method.countries == ["DE", "AT"]
    assert method.postal_code_prefixes == ["10", "11", "12"]
    changelist = admin_client.get(reverse("admin:warehouse_shippingmethod_changelist"))
    assert "DE, AT: 10, 11, 12" in changelist.content.decode()
    change = admin_client.get(reverse("admin:warehouse_shippingmethod_change", args=[method.pk]))
    assert 'value="DE, AT"' in change.content.decode()


def test_a_postal_prefix_may_have_spaces_and_only_commas_separate_them(admin_client):
    # given the add page, which says how prefixes are separated and what they take
    url = reverse("admin:warehouse_shippingmethod_add")
    page = admin_client.get(url).content.decode()
    assert "separated by commas" in page
    assert "SW1A 1 is SW1A1" in page
    assert "so SW1 also takes SW10 to SW19" in page

    # when a zone of two London postal sectors is typed with their spaces
    response = admin_client.post(
        url, _method_form(countries="GB", postal_code_prefixes="sw1a 1, SW1A  2")
    )

    # then each is one prefix (not "SW1A" and "1", which would take all of SW1A and every
    # code starting with 1), and the zone takes those sectors only
    assert response.status_code == 302
    method = ShippingMethod.objects.get(code="local")
    assert method.postal_code_prefixes == ["SW1A1", "SW1A2"]
    assert method.serves("GB", "SW1A 1AA") and method.serves("GB", "sw1a 2ab")
    assert not method.serves("GB", "SW1A 0AA")
    assert not method.serves("GB", "SW19 1AA")


@pytest.mark.parametrize("prefix", ["10\n", "10\r\n", " 10", "1 0", "10\t"])
def test_a_postal_prefix_with_a_trailing_new_line_or_space_is_refused(catalogue, prefix):
    method = ShippingMethod(
        code="local",
        name="Own delivery (Berlin)",
        carrier="own",
        price=Decimal("0.00"),
        countries=["DE"],
        postal_code_prefixes=[prefix],
    )
    with pytest.raises(ValidationError) as refused:
        method.full_clean()
    assert "a prefix is 1 to 10 capital letters or digits" in str(refused.value)


@pytest.mark.parametrize(
    ("zone", "field", "message"),
    [
        ({"countries": "DE, XX"}, "countries", "“XX” is not a country code"),
        ({"postal_code_prefixes": "10"}, "postal_code_prefixes", "name the countries too"),
        (
            {"countries": "DE", "postal_code_prefixes": "10-115"},
            "postal_code_prefixes",
            "a prefix is 1 to 10 capital letters or digits",
        ),
    ],
)
def test_a_bad_zone_is_refused_on_its_field(admin_client, zone, field, message):
    response = admin_client.post(
        reverse("admin:warehouse_shippingmethod_add"), _method_form(**zone)
    )

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors[field])
    assert message in errors
    assert not ShippingMethod.objects.exists()


# --- the demo data --------------------------------------------------------------------------


def test_the_demo_methods_have_their_zones_and_a_reseed_fills_in_missing_ones(db):
    # given a demo database seeded before zones existed
    seed_catalogue()
    ShippingMethod.objects.update(countries=[], postal_code_prefixes=[])

    # when it is seeded again
    seed_catalogue()

    # then the demo's methods have their zones
    zones = {m.code: (m.countries, m.postal_code_prefixes) for m in ShippingMethod.objects.all()}
    assert zones == {
        "standard": ([*EU, "GB"], []),
        "express": ([*EU, "GB", "CH", "NO", "US"], []),
        "local": (["DE"], ["10", "12", "13", "140", "141"]),
    }
    local = ShippingMethod.objects.get(code="local")
    assert local.serves("DE", "10119") and not local.serves("GB", "N1 9GU")
    for method in ShippingMethod.objects.all():
        method.full_clean()  # the zones pass the console's checks


@pytest.mark.parametrize(
    ("postal_code", "serves"),
    [
        ("10115", True),  # Mitte, Berlin's first
        ("12043", True),  # Neukölln
        ("13629", True),  # Spandau
        ("14050", True),  # Charlottenburg
        ("14199", True),  # Schmargendorf, Berlin's last
        ("14467", False),  # Potsdam
        ("14513", False),  # Teltow
        ("11011", False),  # the Bundestag's own code: no street addresses
        ("15711", False),  # Königs Wusterhausen
    ],
)
def test_the_demo_berlin_zone_is_berlin_and_not_potsdam(db, postal_code, serves):
    seed_catalogue()
    local = ShippingMethod.objects.get(code="local")
    assert local.serves("DE", postal_code) is serves


def test_a_reseed_narrows_the_demo_berlin_zone_seeded_too_wide(db):
    # given a demo database seeded when Own delivery (Berlin) took every code from 10 to 14
    seed_catalogue()
    ShippingMethod.objects.filter(code="local").update(
        postal_code_prefixes=["10", "11", "12", "13", "14"]
    )
    # and a zone staff changed themselves
    ShippingMethod.objects.filter(code="express").update(postal_code_prefixes=["1"])

    # when it is seeded again
    seed_catalogue()

    # then the Berlin zone no longer reaches Potsdam, and the staff's zone is left alone
    local = ShippingMethod.objects.get(code="local")
    assert local.postal_code_prefixes == ["10", "12", "13", "140", "141"]
    assert not local.serves("DE", "14467")
    assert ShippingMethod.objects.get(code="express").postal_code_prefixes == ["1"]
