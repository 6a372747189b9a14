"""The catalogue: the product list with search and pages, and one product's page."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from orders import selectors
from orders.numbers import page_number
from orders.shop.forms.cart import AddToCartForm
from orders.shop.forms.catalogue import SearchForm


@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    paginator = Paginator(selectors.product_list(query=query), settings.SHOP_PAGE_SIZE)
    page = paginator.get_page(page_number(request.GET.get("page")))
    return render(
        request,
        "orders/product_list.html",
        {"form": form, "query": query, "page": page, "products": page.object_list},
    )


@require_GET
def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    product = selectors.product_for_sale(sku)
    if product is None:
        raise Http404("No such product.")
    form = AddToCartForm(initial={"sku": product.sku, "quantity": 1})
    return render(
        request,
        "orders/product_detail.html",
        {"product": product, "form": form, "in_stock": selectors.is_in_stock(product)},
    )
