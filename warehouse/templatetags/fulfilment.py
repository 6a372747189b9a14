from django import template

from warehouse.selectors import order_fulfilment as select_order_fulfilment

register = template.Library()


@register.simple_tag
def order_fulfilment(order: object) -> dict:
    """{% order_fulfilment order as fulfilment %}: shipments, downloads, appointments."""
    return select_order_fulfilment(order)
