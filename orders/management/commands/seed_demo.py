"""Demo data for `make run`: products in two warehouses, customers, staff in every group and
orders in several states. Safe to run again: it creates only what is missing."""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction

from orders import services
from orders.models import Channel, Customer, Order, OrderLine, OrderStatus, TaxRate
from orders.permissions import (
    CUSTOMER_SERVICE,
    FINANCE,
    MANAGERS,
    WAREHOUSE,
    ensure_staff_groups,
)
from orders.services import AddressInput, LineInput
from payments.models import CreditAccount
from payments.providers.base import CardDetails
from payments.services import PaymentInput
from warehouse.models import (
    BinStock,
    DigitalAsset,
    Location,
    PackageType,
    Product,
    ShippingMethod,
    StockItem,
    Warehouse,
)
from warehouse.services import picking
from warehouse.services.packing import shipment_pack
from warehouse.services.shipping import shipment_ship

# A one-page PDF for the demo ebook download.
EBOOK_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]"
    b"/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
DEMO_PASSWORD = "demo1234"  # noqa: S105 - local demo accounts, printed on purpose
DEMO_CUSTOMER = "ada@example.com"  # a shop customer with a login, her orders in her account

STAFF = [
    # username, group, superuser
    ("admin", None, True),
    ("support", CUSTOMER_SERVICE, False),
    ("picker", WAREHOUSE, False),
    ("finance", FINANCE, False),
    ("manager", MANAGERS, False),
]

PRODUCTS = [
    # sku, name, kind, price, weight, barcode, stock in BER, stock in LON
    ("MUG-001", "Enamel mug, blue", "physical", "14.90", 350, "4006381333931", 120, 40),
    ("MUG-002", "Enamel mug, red", "physical", "14.90", 350, "4006381333948", 3, 0),
    ("TEE-M-BLK", "T-shirt, black, M", "physical", "24.00", 200, "4006381333955", 60, 25),
    ("TEE-L-BLK", "T-shirt, black, L", "physical", "24.00", 210, "4006381333962", 0, 12),
    ("KETTLE-01", "Stovetop kettle", "physical", "49.00", 1100, "4006381333979", 15, 8),
    ("LAMP-DESK", "Desk lamp", "physical", "89.00", 1800, "4006381333986", 10, 0),
    ("BIKE-PRO", "Road bike, carbon", "physical", "2499.00", 8200, "4006381333993", 2, 1),
    ("SOFA-3", "Three-seat sofa", "physical", "6400.00", 52000, "4006381334006", 2, 0),
    ("EBOOK-COFFEE", "The coffee handbook (ebook)", "digital", "9.99", 0, "", 0, 0),
    ("INSTALL-LAMP", "Lamp installation visit", "service", "59.00", 0, "", 0, 0),
]

# The member states of the European Union, by ISO code.
EU = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)  # fmt: skip

# Berlin's street postal codes run from 10115 to 14199: 10, 12 and 13 are all Berlin, 14 only
# up to 141 (14467 is Potsdam). 11 has no street addresses (11011 to 11019 are the federal
# parliament's and ministries' own codes), so it is left out.
BERLIN_POSTAL_PREFIXES = ["10", "12", "13", "140", "141"]
# The zone the demo gave it before, which reached Potsdam; a reseed narrows it.
TOO_WIDE_BERLIN_PREFIXES = ["10", "11", "12", "13", "14"]

SHIPPING_METHODS = [
    # code, name, carrier, price, handling days, transit days min and max, zone: countries
    # and postal-code prefixes
    ("standard", "Standard", "dhl", "4.90", 1, 2, 5, [*EU, "GB"], []),
    ("express", "Express", "ups", "14.90", 1, 1, 2, [*EU, "GB", "CH", "NO", "US"], []),
    ("local", "Own delivery (Berlin)", "own", "0.00", 2, 1, 1, ["DE"], BERLIN_POSTAL_PREFIXES),
]  # fmt: skip

TAX_RATES = [
    # country, name, rate
    ("DE", "VAT", "19.00"),
    ("AT", "VAT", "20.00"),
    ("FR", "VAT", "20.00"),
    ("NL", "VAT", "21.00"),
    ("GB", "VAT", "20.00"),
    ("US", "Sales tax", "0.00"),
]


def seed_catalogue() -> None:
    """The demo catalogue: two warehouses with stock, shipping methods with their zones, and
    tax rates. Safe to run again."""
    berlin, _ = Warehouse.objects.get_or_create(
        code="ber",
        defaults={"name": "Berlin", "country": "DE", "city": "Berlin", "priority": 10},
    )
    london, _ = Warehouse.objects.get_or_create(
        code="lon",
        defaults={"name": "London", "country": "GB", "city": "London", "priority": 20},
    )
    for sku, name, kind, price, weight, barcode, in_ber, in_lon in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            sku=sku,
            defaults={
                "name": name,
                "kind": kind,
                "price": Decimal(price),
                "weight_grams": weight,
                "barcode": barcode,
            },
        )
        if kind != "physical":
            continue
        for warehouse, units in ((berlin, in_ber), (london, in_lon)):
            StockItem.objects.get_or_create(
                product=product, warehouse=warehouse, defaults={"on_hand": units}
            )
    for code, name, carrier, price, handling, tmin, tmax, countries, prefixes in SHIPPING_METHODS:
        method, created = ShippingMethod.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "carrier": carrier,
                "price": Decimal(price),
                "handling_days": handling,
                "transit_days_min": tmin,
                "transit_days_max": tmax,
                "countries": countries,
                "postal_code_prefixes": prefixes,
            },
        )
        if not created and not method.countries:
            # Seeded before methods had zones: give the demo's methods theirs.
            method.countries, method.postal_code_prefixes = countries, prefixes
            method.save(update_fields=["countries", "postal_code_prefixes"])
        elif prefixes and method.postal_code_prefixes == TOO_WIDE_BERLIN_PREFIXES:
            method.postal_code_prefixes = prefixes
            method.save(update_fields=["postal_code_prefixes"])
    for country, name, rate in TAX_RATES:
        TaxRate.objects.get_or_create(country=country, defaults={"name": name, "rate": rate})


class Command(BaseCommand):
    help = "Create demo data (idempotent) and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        groups = ensure_staff_groups()
        with transaction.atomic():
            staff = self._staff(groups)
            seed_catalogue()
            self._warehouse_setup()
        self._orders(staff)
        self._fulfilment(staff)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        site = settings.SITE_URL.rstrip("/")
        self.stdout.write(f"Staff console: {site}/admin/")
        self.stdout.write(f"Logins (password {DEMO_PASSWORD!r} for all):")
        for username, group, superuser in STAFF:
            role = "superuser" if superuser else group
            self.stdout.write(f"  {username:<10} {role}")
        self.stdout.write(f"Shop: {site}/  customer login {DEMO_CUSTOMER} (My orders)")

    def _staff(self, groups: dict) -> dict[str, Any]:
        user_model = get_user_model()
        users = {}
        for username, group, superuser in STAFF:
            user, created = user_model.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@example.com",
                    "is_staff": True,
                    "is_superuser": superuser,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            if group:
                user.groups.add(groups[group])
            users[username] = user
        self._demo_customer()
        return users

    def _warehouse_setup(self) -> None:
        """Bins (aisle-rack-shelf) holding each warehouse's stock, boxes, the ebook's file."""
        for index, item in enumerate(
            StockItem.objects.select_related("product", "warehouse").order_by("pk")
        ):
            location, _ = Location.objects.get_or_create(
                warehouse=item.warehouse,
                aisle="AB"[index % 2],
                rack=1 + (index // 2) % 6,
                shelf=1 + index % 3,
            )
            BinStock.objects.get_or_create(
                location=location, product=item.product, defaults={"quantity": item.on_hand}
            )
        for name, size, max_weight in [
            ("Small box", (250, 175, 100), 5000),
            ("Medium box", (400, 300, 200), 15000),
            ("Large box", (600, 400, 400), 30000),
            ("Furniture crate", (2200, 1000, 900), 120000),
        ]:
            PackageType.objects.get_or_create(
                name=name,
                defaults={
                    "length_mm": size[0],
                    "width_mm": size[1],
                    "height_mm": size[2],
                    "max_weight_grams": max_weight,
                },
            )
        ebook = Product.objects.get(sku="EBOOK-COFFEE")
        if not DigitalAsset.objects.filter(product=ebook).exists():
            asset = DigitalAsset(product=ebook, filename="coffee-handbook.pdf")
            asset.file.save("coffee-handbook.pdf", ContentFile(EBOOK_PDF), save=False)
            asset.save()

    def _fulfilment(self, staff: dict[str, Any]) -> None:
        """Move two demo orders through the warehouse: one shipped, one packed."""
        picker = staff["picker"]
        first, second = (
            Order.objects.filter(source="seed", idempotency_key=key).first()
            for key in ("seed-1", "seed-2")
        )
        if first is None or second is None or first.status != "ready" or second.status != "ready":
            return
        result = picking.picklist_create(order_ids=[first.pk, second.pk], actor=picker)
        for pick_list in result.pick_lists:
            picked = {item.pk: item.quantity for item in pick_list.items.all()}
            picking.picklist_confirm(pick_list_id=pick_list.pk, picked=picked, actor=picker)
        box = PackageType.objects.get(name="Medium box")
        for order in (first, second):
            for shipment in order.shipments.all():
                scans = [
                    line.order_line.product.barcode or line.order_line.sku
                    for line in shipment.lines.select_related("order_line__product")
                    for _ in range(line.quantity)
                ]
                shipment_pack(
                    shipment_id=shipment.pk,
                    scans=scans,
                    package_type_id=box.pk,
                    weight_grams=1200,
                    actor=picker,
                )
        shipment = first.shipments.first()
        shipment_ship(
            shipment_id=shipment.pk,
            carrier="dhl",
            tracking_number=str(3404340000 + first.pk),  # DHL: 10 digits
            actor=picker,
        )

    def _orders(self, staff: dict[str, Any]) -> None:
        berlin = AddressInput(
            name="Ada Lovelace",
            line1="Torstraße 1",
            city="Berlin",
            postal_code="10119",
            country="DE",
        )
        london = AddressInput(
            name="Grace Hopper",
            line1="1 Main St",
            city="London",
            postal_code="N1 9GU",
            country="GB",
        )
        paris = AddressInput(
            name="Alan Turing",
            line1="5 Rue de Rivoli",
            city="Paris",
            postal_code="75001",
            country="FR",
        )
        acme = AddressInput(
            name="Acme GmbH, Purchasing",
            company="Acme GmbH",
            line1="Hafenstraße 5",
            city="Hamburg",
            postal_code="20457",
            country="DE",
        )
        business, _ = Customer.objects.get_or_create(
            email="buyer@acme.example", defaults={"name": "Acme GmbH", "company": "Acme GmbH"}
        )
        CreditAccount.objects.get_or_create(
            customer=business, defaults={"terms_days": 30, "credit_limit": Decimal("10000")}
        )
        card = PaymentInput(method="card", card=CardDetails(token="tok_visa"))  # noqa: S106
        declined = PaymentInput(
            method="card",
            card=CardDetails(number="4000000000000002", exp_month=12, exp_year=2030, cvc="123"),
        )
        invoice = PaymentInput(method="invoice")
        bad_postcode = AddressInput(
            name="Edsger Dijkstra",
            line1="Keizersgracht 1",
            city="Amsterdam",
            postal_code="99",
            country="NL",
        )
        # key, email, name, lines, shipping, billing, shipping method, payment, then
        demo = [
            ("seed-1", "ada@example.com", "Ada Lovelace", [("MUG-001", 2), ("TEE-M-BLK", 1)],
             berlin, None, "standard", card, None),
            ("seed-2", "ada@example.com", "Ada Lovelace", [("KETTLE-01", 1)],
             berlin, None, "express", card, None),
            ("seed-3", "grace@example.com", "Grace Hopper", [("TEE-L-BLK", 2), ("MUG-001", 1)],
             london, None, "standard", card, None),
            # New customer, high value, billing in another country: held for fraud risk.
            ("seed-4", "mallory@example.net", "Mallory Example", [("BIKE-PRO", 1)],
             paris, london, "express", card, None),
            # A Dutch postal code that cannot be right: held, address invalid.
            ("seed-5", "edsger@example.com", "Edsger Dijkstra", [("LAMP-DESK", 1)],
             bad_postcode, None, "standard", card, None),
            # Over the review limit: waits for a manager.
            ("seed-6", "ada@example.com", "Ada Lovelace", [("SOFA-3", 1)],
             berlin, None, "standard", card, None),
            # Paid, then cancelled by the customer: refunded.
            ("seed-7", "grace@example.com", "Grace Hopper", [("MUG-002", 1)],
             london, None, "standard", card, "cancel"),
            ("seed-8", "ada@example.com", "Ada Lovelace", [("EBOOK-COFFEE", 1)],
             None, berlin, None, card, None),
            # The card is declined: held, and the customer is emailed a link to pay again.
            ("seed-9", "grace@example.com", "Grace Hopper", [("KETTLE-01", 1)],
             london, None, "standard", declined, None),
            # A business customer on invoice terms (net 30): invoiced, straight to the warehouse.
            ("seed-10", "buyer@acme.example", "Acme GmbH", [("MUG-001", 24), ("KETTLE-01", 2)],
             acme, None, "standard", invoice, None),
            # A lamp with an installation visit: shipped, and a technician to book.
            ("seed-11", "ada@example.com", "Ada Lovelace", [("LAMP-DESK", 1), ("INSTALL-LAMP", 1)],
             berlin, None, "standard", card, None),
            # Two warehouses: L T-shirts are only in London, desk lamps only in Berlin.
            ("seed-12", "grace@example.com", "Grace Hopper", [("TEE-L-BLK", 1), ("LAMP-DESK", 1)],
             london, None, "express", card, None),
        ]  # fmt: skip
        # Ada's orders are placed as if she were signed in, so they are in her account.
        ada = get_user_model().objects.get(username=DEMO_CUSTOMER)
        for key, email, name, lines, shipping, billing, method, payment, then in demo:
            result = services.order_place(
                channel=Channel.WEB,
                source="seed",
                idempotency_key=key,
                email=email,
                customer_name=name,
                lines=[LineInput(sku, qty) for sku, qty in lines],
                shipping_address=shipping,
                billing_address=billing,
                shipping_method=method,
                payment=payment,
                actor="seed",
                user=ada if email == DEMO_CUSTOMER else None,
            )
            if result.created and then == "cancel":
                services.order_cancel(
                    order_id=result.order.pk,
                    actor=staff["support"],
                    reason="The customer called: ordered the wrong colour.",
                )
        if not Order.objects.filter(channel=Channel.PHONE, source="seed").exists():
            customer = Customer.objects.get(email="grace@example.com")
            draft = Order(
                channel=Channel.PHONE,
                customer=customer,
                shipping_method=ShippingMethod.objects.get(code="standard"),
            )
            services.order_save_draft(
                order=draft, actor=staff["support"], shipping_address=london.to_model()
            )
            Order.objects.filter(pk=draft.pk).update(source="seed")
            OrderLine.objects.create(
                order=draft, product=Product.objects.get(sku="KETTLE-01"), quantity=1
            )
        self.stdout.write(
            "Orders: "
            + ", ".join(
                f"{status} {Order.objects.filter(status=status).count()}"
                for status in OrderStatus.values
                if Order.objects.filter(status=status).exists()
            )
        )

    def _demo_customer(self) -> None:
        """A customer with a login for the shop, owning the ada@example.com orders."""
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_CUSTOMER,
            defaults={"email": DEMO_CUSTOMER, "first_name": "Ada", "last_name": "Lovelace"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        customer, _ = Customer.objects.get_or_create(
            email=DEMO_CUSTOMER, defaults={"name": "Ada Lovelace", "user": user}
        )
        if customer.user_id is None:
            customer.user = user
            customer.save(update_fields=["user"])
