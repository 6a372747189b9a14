"""Customer pages: the shop, checkout and the customer's own orders."""

app_name = "orders"
urlpatterns: list = []
