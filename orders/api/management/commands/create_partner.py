"""Create a partner (with its billing customer on invoice terms) and an API key:

    python manage.py create_partner "Acme Marketplace" --email billing@acme.example

The key is printed once, alone on the last line; only its hash is stored. For another key
for an existing partner: `create_partner "Acme Marketplace" --new-key`."""

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orders.api import services
from orders.api.models import Partner
from orders.exceptions import DomainError
from payments.models import CreditAccount


class Command(BaseCommand):
    help = "Create a partner for the API and print its new API key (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help='The partner\'s name, e.g. "Acme Marketplace".')
        parser.add_argument("--email", default="", help="Billing email (invoices go there).")
        parser.add_argument(
            "--terms",
            type=int,
            default=CreditAccount.Terms.NET_30,
            choices=CreditAccount.Terms.values,
            help="Invoice terms in days (default 30).",
        )
        parser.add_argument("--credit-limit", default=None, help="Credit limit, e.g. 20000.00.")
        parser.add_argument("--rate", default="", help="Rate limit, e.g. 600/min (default).")
        parser.add_argument("--key-name", default="", help="A label for the key.")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="The key expires after this many days."
        )
        parser.add_argument(
            "--new-key",
            action="store_true",
            help="The partner exists already: only issue another key.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expires_at = None
        if options["expires_days"] is not None:
            if options["expires_days"] < 1:
                raise CommandError("--expires-days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        try:
            if options["new_key"]:
                partner = Partner.objects.filter(name__iexact=options["name"].strip()).first()
                if partner is None:
                    raise CommandError(f"There is no partner called {options['name']!r}.")
            else:
                partner = services.partner_create(
                    name=options["name"],
                    billing_email=options["email"],
                    terms_days=options["terms"],
                    credit_limit=self._limit(options["credit_limit"]),
                    throttle_rate=options["rate"],
                )
                account = partner.billing_customer.credit_account
                self.stdout.write(
                    f"Created partner {partner.name} (id {partner.pk}), billed to "
                    f"{partner.billing_customer.email} on net {account.terms_days}, "
                    f"credit limit {account.credit_limit} {account.currency}."
                )
            api_key, key = services.partner_api_key_create(
                partner=partner, name=options["key_name"], expires_at=expires_at
            )
        except DomainError as exc:
            details = "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.fields.items())
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        expiry = f", expires {api_key.expiry_date:%Y-%m-%d %H:%M %Z}" if expires_at else ""
        self.stdout.write(
            f"API key {api_key.prefix}… ({api_key.name}{expiry}). Store it now: it is not "
            "shown again. Send it as: Authorization: Api-Key <key>"
        )
        self.stdout.write(key)

    @staticmethod
    def _limit(value: str | None) -> Decimal | None:
        if value in (None, ""):
            return None
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise CommandError(f"--credit-limit must be an amount, not {value!r}.") from exc
