"""Numbers are read in the digits 0-9 only: in our forms, the API and every number column of
the staff console."""

from decimal import Decimal

import pytest
from django import forms
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from orders.api.models import parse_rate
from orders.models import TaxRate
from orders.numbers import DecimalNumberField, WholeNumberField, parse_whole_number
from orders.review import postal_code_problem
from payments.services.inputs import PaymentRefused, parse_amount
from warehouse.models import Product

pytestmark = pytest.mark.django_db
OTHER_DIGITS = ["٣", "۳", "３", "३", "²", "1_000", "3.0", "0x3", "", " "]


@pytest.mark.parametrize("typed", OTHER_DIGITS)
def test_parse_whole_number_refuses_anything_but_ascii_digits(typed):
    with pytest.raises(ValueError, match="digits 0-9"):
        parse_whole_number(typed)


@pytest.mark.parametrize(("typed", "number"), [("3", 3), (" 42 ", 42), ("-7", -7), ("+5", 5)])
def test_parse_whole_number_reads_ascii_digits(typed, number):
    assert parse_whole_number(typed) == number


@pytest.mark.parametrize("typed", OTHER_DIGITS[:-2])
def test_the_form_field_refuses_other_digits(typed):
    with pytest.raises(forms.ValidationError, match="digits 0-9"):
        WholeNumberField().clean(typed)
    assert WholeNumberField(required=False).clean("") is None


def _number_fields(form_class: type[forms.BaseForm]) -> dict[str, forms.Field]:
    # forms.DecimalField and FloatField derive from forms.IntegerField
    return {
        name: field
        for name, field in form_class.base_fields.items()
        if isinstance(field, forms.IntegerField)
    }


def test_every_number_input_of_the_staff_console_takes_ascii_digits_only(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    seen = []
    for model, model_admin in admin.site._registry.items():
        forms_to_check = [model_admin.get_form(request)]
        forms_to_check += [
            inline.get_formset(request).form for inline in model_admin.get_inline_instances(request)
        ]
        for form_class in forms_to_check:
            for name, field in _number_fields(form_class).items():
                seen.append(f"{model.__name__}.{name}")
                expected = (
                    DecimalNumberField
                    if isinstance(field, forms.DecimalField)
                    else WholeNumberField
                )
                assert isinstance(field, expected), f"{model.__name__}.{name}"
    # the check saw the inputs it is about: a product's weight and price, a bin's rack, line
    # quantities on a draft order, a tax rate
    assert {
        "Product.weight_grams",
        "Product.price",
        "Location.rack",
        "Order.quantity",
        "TaxRate.rate",
    } <= set(seen)


def test_a_tax_rate_in_other_digits_is_a_form_error(admin_client, db):
    response = admin_client.post(
        reverse("admin:orders_taxrate_add"), {"country": "DE", "name": "VAT", "rate": "١٩.٠٠"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rate"] == [
        "Enter a number. Use the digits 0-9 and a point, such as 12.50."
    ]
    assert not TaxRate.objects.exists()


@pytest.mark.parametrize("typed", ["٣.٥٠", "３", "1e3", "NaN"])
def test_an_amount_typed_by_finance_takes_ascii_digits_only(typed):
    with pytest.raises(PaymentRefused):
        parse_amount(typed)
    assert parse_amount(" 3.505 ") == Decimal("3.51")


def test_a_product_weight_in_other_digits_is_a_form_error(admin_client, catalogue):
    mug = catalogue["mug"]
    url = reverse("admin:warehouse_product_change", args=[mug.pk])
    page = admin_client.get(url)
    data = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None
    }
    management = {}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            management[f"{formset.prefix}-{key}"] = formset.management_form[key].value()
        management[f"{formset.prefix}-TOTAL_FORMS"] = "0"
        management[f"{formset.prefix}-INITIAL_FORMS"] = "0"
    response = admin_client.post(url, {**data, **management, "weight_grams": "٣٠٠"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["weight_grams"] == [
        "Enter a whole number. Use the digits 0-9."
    ]
    assert Product.objects.get(pk=mug.pk).weight_grams == mug.weight_grams


def test_postal_codes_take_ascii_digits_only():
    assert postal_code_problem("DE", "10119") == ""
    assert postal_code_problem("DE", "١٠١١٩") == "'١٠١١٩' is not a valid postal code for Germany."


def test_a_partner_rate_takes_ascii_digits_only():
    assert parse_rate("600/min") == (600, 60)
    with pytest.raises(ValueError, match="A rate looks like"):
        parse_rate("٦٠٠/min")
