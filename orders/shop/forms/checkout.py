"""The checkout form: contact, delivery, the shipping and billing addresses, and payment."""

from typing import Any

from django import forms
from django.forms.utils import ErrorDict

from orders.countries import country_name
from orders.exceptions import DomainError
from orders.services import AddressInput, LineInput, shipping_method_problem
from orders.shop.forms.addresses import AddressForm
from orders.shop.forms.cards import CardFieldsMixin
from orders.shop.forms.customer_form import apply_domain_error
from payments.services import PaymentInput
from warehouse.models import ShippingMethod


def _transit(method: ShippingMethod) -> str:
    low, high = method.transit_days_min, method.transit_days_max
    days = f"{low}" if low == high else f"{low}–{high}"
    return f"delivered {days} working day{'' if high == 1 else 's'} after dispatch"


def _zone_note(method: ShippingMethod) -> str:
    """Where a method delivers, when that is worth saying before the country is chosen: a
    few countries, or some postal codes only."""
    names = [country_name(code) for code in method.countries]
    if method.postal_code_prefixes:
        prefixes = ", ".join(method.postal_code_prefixes)
        return f" · {', '.join(names)}: postal codes starting {prefixes} only"
    if 0 < len(names) <= 3:
        return f" · {', '.join(names)} only"
    return ""


class DeliveryField(forms.ChoiceField):
    """The delivery options for the address; any active method passes the field itself, so
    that one outside the address's zone is refused with a message that says why
    (CheckoutForm.is_valid), not "not one of the available choices"."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.known: set[str] = set()

    def valid_value(self, value: Any) -> bool:
        return value in self.known or super().valid_value(value)


class CheckoutForm(CardFieldsMixin):
    checkout_token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    email = forms.EmailField(
        label="Email",
        max_length=254,
        help_text="We send your order confirmation and updates here.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label="Phone (optional)",
        max_length=32,
        required=False,
        help_text="Only if the carrier needs to reach you.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    shipping_method = DeliveryField(label="Delivery", widget=forms.RadioSelect, required=False)
    billing_same = forms.BooleanField(
        label="Bill to the shipping address", required=False, initial=True
    )
    payment_method = forms.ChoiceField(
        label="Payment",
        widget=forms.RadioSelect,
        choices=[("card", "Card")],
        initial="card",
    )
    note = forms.CharField(
        label="Note for us (optional)",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    field_aliases = {
        "email": "email",
        "shipping_method": "shipping_method",
        "payment": "payment_method",
        **CardFieldsMixin.card_field_names,
    }

    def __init__(
        self,
        data: Any = None,
        *,
        needs_shipping: bool,
        invoice_allowed: bool,
        methods: list[ShippingMethod],
        account_email: str = "",
        initial: dict[str, Any] | None = None,
        shipping_initial: dict[str, Any] | None = None,
        preview: bool = False,
        pays_on_provider_page: bool = False,
    ):
        """`methods`: the active shipping methods; the form offers those whose zone takes the
        address. `preview`: show the posted values again without checking them ("Update
        total"), with the delivery option moved to one the address has when it has no more.
        `pays_on_provider_page`: cards are paid on the provider's page (Stripe Checkout), so
        the form has no card fields."""
        super().__init__(data, initial=initial, pays_on_provider_page=pays_on_provider_page)
        self.needs_shipping = needs_shipping
        self.invoice_allowed = invoice_allowed
        self.account_email = account_email
        self.methods = methods
        if account_email:
            # A logged-in customer's orders go to their account's email.
            self.fields["email"].disabled = True
            self.fields["email"].initial = account_email
            self.fields["email"].help_text = "The email of your account."
        if not needs_shipping:
            del self.fields["shipping_method"]
            del self.fields["billing_same"]
        if invoice_allowed:
            self.fields["payment_method"].choices = [
                ("card", "Card"),
                ("invoice", "On invoice (your account's payment terms)"),
            ]
        self.shipping = (
            AddressForm(
                data,
                prefix="shipping",
                section="shipping",
                deliverable=True,
                initial=shipping_initial,
            )
            if needs_shipping
            else None
        )
        # The billing part is checked (and shows errors) only when it is used.
        self.billing = AddressForm(
            data if self.uses_billing else None,
            prefix="billing",
            section="billing",
            deliverable=False,
            # The part is hidden while "bill to the shipping address" is ticked.
            use_required_attribute=not needs_shipping,
        )
        self.destination = self._destination()
        self.offered = [
            method
            for method in methods
            if self.destination is None
            or method.serves(self.destination.country, self.destination.postal_code)
        ]
        if needs_shipping:
            self._offer_methods(preview)
        if preview:
            self._unchecked()

    def _offer_methods(self, preview: bool) -> None:
        field = self.fields["shipping_method"]
        field.known = {method.code for method in self.methods}
        # Before a country is chosen every method is offered, saying where it goes.
        zone_notes = self.destination is None
        field.choices = [
            (
                m.code,
                f"{m.name}: {m.price} {m.currency} · {_transit(m)}"
                + (_zone_note(m) if zone_notes else ""),
            )
            for m in self.offered
        ]
        codes = [method.code for method in self.offered]
        if not codes:
            return
        default = "standard" if "standard" in codes else codes[0]
        name = self.add_prefix("shipping_method")
        if not self.is_bound and self.initial.get("shipping_method") not in codes:
            self.initial = {**self.initial, "shipping_method": default}
        elif preview and self.data.get(name) not in codes:
            self.data = self.data.copy()
            self.data[name] = default

    def _destination(self) -> AddressInput | None:
        """Where the order goes, as far as the page knows: the country and postal code of the
        shipping address (of the billing address when nothing is shipped); None until a
        country we ship to is chosen."""
        part = self.shipping if self.needs_shipping else self.billing
        if part is None:
            return None

        def value(name: str) -> str:
            if part.is_bound:
                return str(part.data.get(part.add_prefix(name), "") or "").strip().upper()
            return str(part.initial.get(name, "") or "").strip().upper()

        country = value("country")
        if not country or country not in dict(part.fields["country"].choices):
            return None
        return AddressInput(
            name="", line1="", city="", country=country, postal_code=value("postal_code")
        )

    def _unchecked(self) -> None:
        """Show what was posted without checking it: no field errors (nothing is placed)."""
        for form in (self, self.shipping, self.billing):
            if form is not None and form.is_bound:
                form._errors = ErrorDict()
                form.cleaned_data = {}

    def chosen_method(self) -> ShippingMethod | None:
        """The delivery option chosen on the page, when it is one offered for the address."""
        if not self.needs_shipping:
            return None
        code = self["shipping_method"].value()
        return next((method for method in self.offered if method.code == code), None)

    def no_delivery_message(self) -> str:
        """What to say when no method's zone takes the address."""
        if not self.needs_shipping or self.offered or self.destination is None:
            return ""
        where = f"{country_name(self.destination.country)} {self.destination.postal_code}"
        return f"We have no delivery option for {where.strip()}. Please choose another address."

    @property
    def uses_billing(self) -> bool:
        if not self.needs_shipping:
            return True
        if self.is_bound:
            return not self.fields["billing_same"].widget.value_from_datadict(
                self.data, self.files, self.add_prefix("billing_same")
            )
        return False

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.shipping is not None:
            valid = self.shipping.is_valid() and valid
            valid = self._delivery_is_valid() and valid
        if self.uses_billing:
            valid = self.billing.is_valid() and valid
        return valid

    def _delivery_is_valid(self) -> bool:
        """A delivery option is chosen, and its zone takes the shipping address (placing
        checks the same: orders.services.shipping_method_problem)."""
        if "shipping_method" not in self.cleaned_data:
            return False
        code = self.cleaned_data["shipping_method"]
        method = next((m for m in self.methods if m.code == code), None)
        if method is None:
            message = self.no_delivery_message() or "Choose a delivery option."
            self.add_error("shipping_method", message)
            return False
        if self.destination is not None:
            problem = shipping_method_problem(method, self.destination)
            if problem:
                self.add_error("shipping_method", f"{problem} Choose one of the options shown.")
                return False
        return True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("payment_method") == "card":
            self.card = self.clean_card()
        else:
            self.card = None
        return data

    def payment(self) -> PaymentInput:
        if self.cleaned_data["payment_method"] == "invoice":
            return PaymentInput(method="invoice")
        if self.pays_on_provider_page:
            return PaymentInput(method="card", hosted=True)
        return PaymentInput(method="card", card=self.card)

    @property
    def sends_to_provider_page(self) -> bool:
        """The placed order is paid next, on the card provider's page."""
        return self.pays_on_provider_page and self.cleaned_data.get("payment_method") == "card"

    def placement(self, lines: list[LineInput]) -> dict[str, Any]:
        """The order_place arguments for this checkout (without who and the token)."""
        data = self.cleaned_data
        shipping = self.shipping.to_input() if self.shipping is not None else None
        billing = self.billing.to_input() if self.uses_billing else None
        name_from = billing or shipping
        return {
            "lines": lines,
            "email": self.account_email or data["email"],
            "customer_name": name_from.name if name_from else "",
            "phone": data.get("phone", ""),
            "shipping_address": shipping,
            "billing_address": billing,
            "shipping_method": data.get("shipping_method") or None,
            "customer_note": data.get("note", ""),
            "payment": self.payment(),
        }

    def show_error(self, error: DomainError) -> None:
        """A refusal from order_place, shown on the right field of the right part."""
        apply_domain_error(
            self,
            error,
            self.field_aliases,
            parts={"shipping_address": self.shipping, "billing_address": self.billing},
        )
