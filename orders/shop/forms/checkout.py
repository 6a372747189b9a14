"""The checkout form: contact, delivery, the shipping and billing addresses, and payment."""

from typing import Any

from django import forms

from orders.exceptions import DomainError
from orders.services import LineInput
from orders.shop.forms.addresses import AddressForm
from orders.shop.forms.cards import CardFieldsMixin
from orders.shop.forms.customer_form import apply_domain_error
from payments.services import PaymentInput
from warehouse.models import ShippingMethod


def _transit(method: ShippingMethod) -> str:
    low, high = method.transit_days_min, method.transit_days_max
    days = f"{low}" if low == high else f"{low}–{high}"
    return f"delivered {days} working day{'' if high == 1 else 's'} after dispatch"


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
    shipping_method = forms.ChoiceField(label="Delivery", widget=forms.RadioSelect)
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
        pays_on_provider_page: bool = False,
    ):
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
        if needs_shipping:
            self.fields["shipping_method"].choices = [
                (m.code, f"{m.name}: {m.price} {m.currency} · {_transit(m)}") for m in methods
            ]
            codes = [m.code for m in methods]
            if codes and not self.initial.get("shipping_method"):
                default = "standard" if "standard" in codes else codes[0]
                self.fields["shipping_method"].initial = default
        else:
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
        if self.uses_billing:
            valid = self.billing.is_valid() and valid
        return valid

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
