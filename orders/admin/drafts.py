"""Phone, email and in-person orders in the staff console: staff take the order as a draft on
the order add page, edit its details, addresses and lines while it is a draft, and place it
with the "Place order" button (buttons.py). Saving goes through `order_save_draft`."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect

from orders import services
from orders.countries import country_code_problem
from orders.exceptions import DomainError
from orders.models import STAFF_CHANNELS, Address, Order, OrderLine, OrderStatus
from warehouse.models import ShippingMethod

# A draft's address inputs in the order staff type them (postal code before city): the
# model's ADDRESS_FIELDS but the phone, which the order has once for both addresses.
DRAFT_ADDRESS_FIELDS = [
    "name",
    "company",
    "line1",
    "line2",
    "postal_code",
    "city",
    "region",
    "country",
]


def is_draft(order: Order | None) -> bool:
    """A new order (the add page) or a draft: the only orders staff may still edit."""
    return order is None or order.status == OrderStatus.DRAFT


def _address_fields(prefix: str, required: bool) -> dict[str, forms.Field]:
    labels = {
        "name": "Name",
        "company": "Company",
        "line1": "Address line 1",
        "line2": "Address line 2",
        "postal_code": "Postal code",
        "city": "City",
        "region": "Region / state",
        "country": "Country (ISO code)",
    }
    must = {"name", "line1", "city", "country"}
    return {
        f"{prefix}_{name}": forms.CharField(
            label=labels[name],
            required=required and name in must,
            max_length=2 if name == "country" else 200,
        )
        for name in DRAFT_ADDRESS_FIELDS
    }


def _method_with_zone(method: ShippingMethod) -> str:
    zone = method.zone if len(method.countries) <= 5 else f"{len(method.countries)} countries"
    return f"{method} · {zone}"


# The address inputs are declared on a form class so that the admin's fieldsets may name them.
_DraftAddressFields = type(
    "_DraftAddressFields",
    (forms.Form,),
    {**_address_fields("shipping", required=False), **_address_fields("billing", required=False)},
)


class DraftOrderForm(_DraftAddressFields, forms.ModelForm):
    billing_same = forms.BooleanField(
        label="Billing address is the shipping address", required=False, initial=True
    )
    # Says the posted page was a draft's form: posted for an order placed meanwhile, the
    # edits are refused rather than dropped in silence.
    editing_draft = forms.CharField(widget=forms.HiddenInput, initial="1", required=False)

    class Meta:
        model = Order
        fields = [
            "channel",
            "customer",
            "email",
            "phone",
            "shipping_method",
            "customer_note",
            "staff_note",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [(c.value, c.label) for c in STAFF_CHANNELS]
        if "shipping_method" in self.fields:
            method_field = self.fields["shipping_method"]
            method_field.label_from_instance = _method_with_zone
            method_field.help_text = (
                "It must deliver to the shipping address: its zone is under Warehouse → "
                "Shipping methods."
            )
        order = self.instance
        for prefix in ("shipping", "billing"):
            address = getattr(order, f"{prefix}_address", None) if order.pk else None
            if address is not None:
                for name in DRAFT_ADDRESS_FIELDS:
                    self.initial[f"{prefix}_{name}"] = getattr(address, name)
        if order.pk and order.billing_address_id and order.shipping_address_id:
            self.initial["billing_same"] = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("customer") and not data.get("email"):
            self.add_error("email", "Choose a customer or enter the caller's email address.")
        for prefix in ("shipping", "billing"):
            if prefix == "billing" and data.get("billing_same"):
                continue
            values = {
                name: (data.get(f"{prefix}_{name}") or "").strip() for name in DRAFT_ADDRESS_FIELDS
            }
            if not any(values.values()):
                continue
            address = Address(**values)
            address.country = address.country.upper()
            country_problem = country_code_problem(address.country)
            problems = services.address_problems(address)
            for problem in problems:
                field = "country" if problem == country_problem else "line1"
                self.add_error(f"{prefix}_{field}", problem)
            method = data.get("shipping_method")
            if prefix != "shipping" or method is None or problems:
                continue
            if problem := services.shipping_method_problem(method, address):
                self.add_error("shipping_method", f"{problem} Choose another one.")
        return data

    def address(self, prefix: str) -> Address | None:
        values = {
            name: (self.cleaned_data.get(f"{prefix}_{name}") or "").strip()
            for name in DRAFT_ADDRESS_FIELDS
        }
        if not any(values.values()):
            return None
        values["country"] = values["country"].upper()
        return Address(**values)


DRAFT_FIELDSETS = [
    (
        None,
        {"fields": ["editing_draft", "channel", "customer", "email", "phone", "shipping_method"]},
    ),
    ("Shipping address", {"fields": [f"shipping_{n}" for n in DRAFT_ADDRESS_FIELDS]}),
    (
        "Billing address",
        {"fields": ["billing_same", *[f"billing_{n}" for n in DRAFT_ADDRESS_FIELDS]]},
    ),
    ("Notes", {"fields": ["customer_note", "staff_note"]}),
]


class OrderLineInline(admin.TabularInline):
    """An order's lines: entered by staff while it is a draft, read-only once placed."""

    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]
    fields = ["product", "quantity", "sku", "name", "unit_price", "line_total", "reserved"]
    readonly_fields = ["sku", "name", "unit_price", "line_total", "reserved"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("product")
            .prefetch_related("reservations__stock_item__warehouse")
        )

    @admin.display(description="reserved")
    def reserved(self, line: OrderLine) -> str:
        if not line.pk or line.product_kind != "physical":
            return "–"
        parts = [f"{r.quantity} @ {r.stock_item.warehouse.code}" for r in line.reservations.all()]
        return ", ".join(parts) or "none"

    def get_extra(self, request: HttpRequest, obj: Order | None = None, **kwargs: Any) -> int:
        return 3 if is_draft(obj) and not (obj and obj.lines.exists()) else 0

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        if is_draft(obj):
            return list(self.readonly_fields)
        return list(self.fields)

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return is_draft(obj) and super().has_delete_permission(request, obj)


class DraftOrderAdmin(admin.ModelAdmin):
    """The base of the order pages (OrderAdmin): the draft form on the add page and on a
    draft, the read-only `placed_fieldsets` once the order is placed."""

    form = DraftOrderForm
    placed_fieldsets: list = []

    def get_form(self, request: HttpRequest, obj: Order | None = None, **kwargs: Any) -> Any:
        if not is_draft(obj):
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = []
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Order | None = None) -> list:
        return DRAFT_FIELDSETS if is_draft(obj) else self.placed_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        if is_draft(obj):
            return []
        return [name for _, options in self.placed_fieldsets for name in options["fields"]]

    def get_inlines(self, request: HttpRequest, obj: Order | None) -> list:
        if obj is None:  # a new draft has no holds, timeline or messages yet
            return [OrderLineInline]
        return self.inlines

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        if not is_draft(obj if change else None):
            return
        shipping = form.address("shipping")
        billing = None if form.cleaned_data.get("billing_same") else form.address("billing")
        services.order_save_draft(
            order=obj, shipping_address=shipping, billing_address=billing, actor=request.user
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """A draft's lines are saved by the draft service, not by the formset itself."""
        if formset.model is not OrderLine:
            super().save_formset(request, form, formset, change)
            return
        # The admin's change message reads these; the lines are recorded by the service.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if not is_draft(form.instance):
            return
        deleted = set(formset.deleted_forms)
        lines = [
            services.DraftLine(
                product=line_form.cleaned_data.get("product"),
                quantity=line_form.cleaned_data.get("quantity") or 0,
                line_id=line_form.instance.pk,
                delete=line_form in deleted,
            )
            for line_form in formset.forms
            if line_form.has_changed() or line_form in deleted
        ]
        if lines:
            services.order_save_draft_lines(
                order_id=form.instance.pk, lines=lines, actor=request.user
            )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> Any:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        # A draft placed by someone else while this form was open: before this request the
        # placed order's page would drop the edits in silence, during it the draft service
        # refuses them (rolled back). Either way, say so.
        if object_id and request.POST.get("editing_draft"):
            order = self.get_object(request, object_id)
            if order is not None and not is_draft(order):
                messages.error(
                    request,
                    f"Order {order.number} was placed meanwhile; your changes were not saved.",
                )
                return HttpResponseRedirect(request.get_full_path())
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as refusal:
            messages.error(request, f"{refusal.message} Your changes were not saved.")
            return HttpResponseRedirect(request.get_full_path())

    def response_add(self, request: HttpRequest, obj: Order, post_url_continue: Any = None) -> Any:
        # After creating a draft, stay on it so staff can add lines and press "Place order".
        if "_addanother" not in request.POST and "_continue" not in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_add(request, obj, post_url_continue)
