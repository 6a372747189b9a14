"""Forms of the customer site. They check what a customer typed and turn it into the inputs
of the services; the services decide everything else (prices, stock, payment, state)."""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.utils import timezone

from orders.exceptions import DomainError
from orders.review import postal_code_problem
from orders.services import AddressInput, LineInput, address_problems
from payments.providers.base import CardDetails
from payments.services import PaymentInput, payment_validate
from warehouse.exceptions import OutOfStock
from warehouse.models import ShippingMethod

MAX_QUANTITY = 99

# Destinations offered at checkout (SHIPPING_COUNTRIES narrows them when it is set).
COUNTRIES = {
    "AT": "Austria",
    "AU": "Australia",
    "BE": "Belgium",
    "CA": "Canada",
    "CH": "Switzerland",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "United Kingdom",
    "GR": "Greece",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "JP": "Japan",
    "LU": "Luxembourg",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PL": "Poland",
    "PT": "Portugal",
    "SE": "Sweden",
    "US": "United States",
}


def country_choices(only: list[str] | None = None) -> list[tuple[str, str]]:
    allowed = [code.upper() for code in (only or settings.SHIPPING_COUNTRIES or COUNTRIES)]
    choices = [(code, COUNTRIES.get(code, code)) for code in allowed]
    return [("", "Choose a country"), *sorted(choices, key=lambda choice: choice[1])]


def apply_domain_error(form: forms.Form, error: DomainError, aliases: dict[str, str]) -> None:
    """Show a service's refusal on the form: each field message on its field (named by the
    service, mapped through `aliases`), the summary at the top."""
    if isinstance(error, OutOfStock):
        form.add_error(None, out_of_stock_message(error))
        return
    placed = False
    for name, messages in error.fields.items():
        field = aliases.get(name, name)
        if field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def out_of_stock_message(error: OutOfStock) -> str:
    parts = [
        f"{sku}: only {available} left" if available else f"{sku}: sold out"
        for sku, (_requested, available) in sorted(error.shortages.items())
    ]
    return (
        "Some items are no longer in stock (" + "; ".join(parts) + "). "
        "Please change the quantities in your cart."
    )


# --- the shop ------------------------------------------------------------------------------


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Search products",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search products"}),
    )


class AddToCartForm(forms.Form):
    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)
    quantity = forms.IntegerField(
        label="Quantity",
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}),
    )


class CartUpdateForm(forms.Form):
    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)
    quantity = forms.IntegerField(
        label="Quantity",
        min_value=0,
        max_value=MAX_QUANTITY,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}),
    )


# --- addresses -----------------------------------------------------------------------------


class CustomerForm(forms.Form):
    """Our forms: labels without a trailing colon."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class AddressForm(CustomerForm):
    name = forms.CharField(label="Full name", max_length=200)
    company = forms.CharField(label="Company", max_length=200, required=False)
    line1 = forms.CharField(label="Street and house number", max_length=200)
    line2 = forms.CharField(label="Apartment, floor, etc.", max_length=200, required=False)
    postal_code = forms.CharField(label="Postal code", max_length=20, required=False)
    city = forms.CharField(label="City", max_length=100)
    region = forms.CharField(label="Region / state", max_length=100, required=False)
    country = forms.ChoiceField(label="Country")
    phone = forms.CharField(label="Phone", max_length=32, required=False)

    autocomplete = {
        "name": "name",
        "company": "organization",
        "line1": "address-line1",
        "line2": "address-line2",
        "postal_code": "postal-code",
        "city": "address-level2",
        "region": "address-level1",
        "country": "country",
        "phone": "tel",
    }

    def __init__(
        self,
        *args: Any,
        deliverable: bool = True,
        countries: list[str] | None = None,
        section: str = "",
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.deliverable = deliverable
        self.fields["country"].choices = country_choices(countries if deliverable else None)
        if not deliverable:
            # Billing addresses may be anywhere.
            self.fields["country"].choices = country_choices(list(COUNTRIES))
        for name, token in self.autocomplete.items():
            value = f"{section} {token}" if section else token
            self.fields[name].widget.attrs["autocomplete"] = value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        country = data.get("country", "")
        problem = postal_code_problem(country, data.get("postal_code", ""))
        if problem:
            self.add_error("postal_code", problem)
            return data
        for message in address_problems(self.to_input().to_model(), deliverable=self.deliverable):
            self.add_error("country" if "ship to" in message else None, message)
        return data

    def to_input(self) -> AddressInput:
        data = self.cleaned_data
        return AddressInput(
            name=data["name"],
            company=data.get("company", ""),
            line1=data["line1"],
            line2=data.get("line2", ""),
            postal_code=data.get("postal_code", "").upper(),
            city=data["city"],
            region=data.get("region", ""),
            country=data["country"],
            phone=data.get("phone", ""),
        )

    @classmethod
    def initial_from(cls, address: Any) -> dict[str, str]:
        if address is None:
            return {}
        return {name: getattr(address, name, "") for name in cls.base_fields}


# --- cards ---------------------------------------------------------------------------------


class NoEchoInput(forms.TextInput):
    """A text input that never sends the typed value back to the browser (card number and
    security code are not repeated in a page, even when another field has an error)."""

    def format_value(self, value: Any) -> None:
        return None


def _year_choices() -> list[tuple[str, str]]:
    year = timezone.localdate().year
    return [("", "Year")] + [(str(y), str(y)) for y in range(year, year + 16)]


MONTH_CHOICES = [("", "Month")] + [(str(m), f"{m:02d}") for m in range(1, 13)]


class CardFieldsMixin(CustomerForm):
    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        required=False,
        widget=NoEchoInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )
    exp_month = forms.TypedChoiceField(
        label="Expiry month",
        choices=MONTH_CHOICES,
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.Select(attrs={"autocomplete": "cc-exp-month"}),
    )
    exp_year = forms.TypedChoiceField(
        label="Expiry year",
        choices=[],
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.Select(attrs={"autocomplete": "cc-exp-year"}),
    )
    cvc = forms.CharField(
        label="Security code (CVC)",
        max_length=4,
        required=False,
        widget=NoEchoInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )

    card_field_names = {
        "number": "card_number",
        "exp_month": "exp_month",
        "exp_year": "exp_year",
        "cvc": "cvc",
        "card": "card_number",
        "token": "card_number",
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["exp_year"].choices = _year_choices()

    def clean_card(self) -> CardDetails | None:
        """Card details checked by the payment provider (number, expiry, code), with the
        provider's messages on each field."""
        data = self.cleaned_data
        missing = False
        for name, label in (
            ("card_number", "Enter the card number."),
            ("exp_month", "Choose the expiry month."),
            ("exp_year", "Choose the expiry year."),
            ("cvc", "Enter the security code."),
        ):
            if data.get(name) in (None, "") and name not in self.errors:
                self.add_error(name, label)
                missing = True
        card_fields = ("card_number", "exp_month", "exp_year", "cvc")
        if missing or any(name in self.errors for name in card_fields):
            return None
        card = CardDetails(
            number=data["card_number"],
            exp_month=data["exp_month"],
            exp_year=data["exp_year"],
            cvc=data["cvc"],
        )
        try:
            payment_validate(PaymentInput(method="card", card=card))
        except DomainError as error:
            apply_domain_error(self, error, self.card_field_names)
            return None
        return card


def _transit(method: ShippingMethod) -> str:
    low, high = method.transit_days_min, method.transit_days_max
    days = f"{low}" if low == high else f"{low}–{high}"
    return f"delivered {days} working day{'' if high == 1 else 's'} after dispatch"


# --- checkout ------------------------------------------------------------------------------


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
    ):
        super().__init__(data, initial=initial)
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
        return PaymentInput(method="card", card=self.card)

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
        if isinstance(error, OutOfStock):
            self.add_error(None, out_of_stock_message(error))
            return
        parts = {"shipping_address": self.shipping, "billing_address": self.billing}
        shown = False
        for name, messages in error.fields.items():
            part = parts.get(name)
            if part is not None and part.is_bound and hasattr(part, "cleaned_data"):
                for message in messages:
                    part.add_error(None, message)
                shown = True
                continue
            field = self.field_aliases.get(name, name)
            label = name.replace("_", " ").capitalize()
            for message in messages:
                if field in self.fields:
                    self.add_error(field, message)
                else:
                    self.add_error(None, f"{label}: {message}")
            shown = True
        if not shown:
            self.add_error(None, error.message)


# --- after the order -----------------------------------------------------------------------


class CancelOrderForm(CustomerForm):
    reason = forms.CharField(
        label="Why are you cancelling?",
        max_length=1000,
        help_text="Required. It helps us do better.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PayAgainForm(CardFieldsMixin):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.card = self.clean_card()
        return data


# --- accounts ------------------------------------------------------------------------------


class CustomerLoginForm(AuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    username = forms.CharField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class RegisterForm(CustomerForm):
    name = forms.CharField(
        label="Full name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not only digits, not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    link = forms.CharField(required=False, widget=forms.HiddenInput, max_length=500)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are not the same.")
        elif first:
            from django.contrib.auth import get_user_model

            candidate = get_user_model()(username=data.get("email", ""), email=data.get("email"))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class CustomerPasswordResetForm(PasswordResetForm):
    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class CustomerSetPasswordForm(SetPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
