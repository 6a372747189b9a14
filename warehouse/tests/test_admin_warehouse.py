import pytest
from django.urls import reverse
from orders.models import Order
from orders.tests.factories import place_order, staff_user
from warehouse.models import *
from warehouse import fulfilment

pytestmark = pytest.mark.django_db

def test_flow(client, catalogue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order([("MUG-001", 2), ("LAMP-001", 1)]).order
    order = Order.objects.get(pk=order.pk)
    print(order.status, order.number, order.promised_ship_by, list(order.shipments.values()), list(ShipmentLine.objects.values()))
    user = staff_user("Warehouse")
    client.force_login(user)
    r = client.get(reverse("admin:warehouse_fulfilmentorder_changelist"))
    print(r.status_code)
    print(r.content.decode()[-6000:])
