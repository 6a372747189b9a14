"""Measure the hot paths and print figures: order placement (1 and 20 lines), review, and
the staff changelist. Runs inside a transaction that is rolled back, so it leaves nothing
behind (so the after-commit steps, authorisation and mail, are not in the figures); point
DATABASE_URL at PostgreSQL for production-like numbers.

    python manage.py benchmark_orders --orders 200
"""

import statistics
import time
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from orders import services
from orders.services import AddressInput, LineInput
from payments.providers.base import CardDetails
from payments.services import PaymentInput
from warehouse.models import Product, ShippingMethod, StockItem, Warehouse

ADDRESS = AddressInput(
    name="Bench Mark", line1="Torstraße 1", city="Berlin", postal_code="10119", country="DE"
)


CARD = PaymentInput(method="card", card=CardDetails(token="tok_visa"))  # noqa: S106


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time order placement and review; print latency percentiles and queries per call."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--orders", type=int, default=200, help="orders per scenario")

    def handle(self, *args: Any, orders: int, **options: Any) -> None:
        try:
            with transaction.atomic():
                self._run(orders)
                raise Rollback
        except Rollback:
            pass

    def _run(self, count: int) -> None:
        warehouse = Warehouse.objects.create(code="bench", name="Bench", country="DE", priority=1)
        ShippingMethod.objects.get_or_create(
            code="bench", defaults={"name": "Bench", "carrier": "dhl", "price": Decimal("1")}
        )
        products = [
            Product.objects.create(sku=f"BENCH-{n:03d}", name=f"Bench {n}", price=Decimal("9.99"))
            for n in range(20)
        ]
        StockItem.objects.bulk_create(
            StockItem(product=p, warehouse=warehouse, on_hand=10 * count * 20) for p in products
        )
        self.stdout.write(f"database: {connection.vendor}; {count} orders per scenario")
        for lines in (1, 20):
            placed = self._time(
                f"place, {lines:>2} line(s)",
                count,
                lambda n, lines=lines: (
                    services.order_place(
                        channel="web",
                        lines=[LineInput(p.sku, 1) for p in products[:lines]],
                        email=f"bench{n % 50}@example.com",
                        shipping_address=ADDRESS,
                        shipping_method="bench",
                        actor="benchmark",
                    ).order.pk
                ),
            )
        self._time("review", count, lambda n: services.order_review(order_id=placed[n]).pk)

    def _time(self, label: str, count: int, call: Any) -> list:
        results, durations, queries = [], [], []
        for n in range(count):
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                results.append(call(n))
                durations.append((time.perf_counter() - started) * 1000)
            queries.append(len(captured.captured_queries))
        durations.sort()
        p95 = durations[int(len(durations) * 0.95) - 1]
        self.stdout.write(
            f"{label:<20} median {statistics.median(durations):6.2f} ms  p95 {p95:6.2f} ms  "
            f"{1000 * count / sum(durations):7.1f}/s  queries {min(queries)}-{max(queries)}"
        )
        return results
