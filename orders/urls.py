"""Customer pages: the shop, checkout and the customer's own orders."""

from django.urls import path

from orders.shop import order_pages as views

app_name = "orders"
urlpatterns = [
    # the shop
    path("", views.product_list, name="product-list"),
    path("products/<str:sku>/", views.product_detail, name="product-detail"),
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/update/", views.cart_update, name="cart-update"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/received/<str:number>/", views.order_received, name="order-received"),
    # guest links from emails, and paying again after a declined card
    path("orders/track/<str:token>/", views.order_link, name="order-link"),
    path("orders/track/<str:token>/cancel/", views.order_link_cancel, name="order-link-cancel"),
    path("orders/track/<str:token>/address/", views.order_link_address, name="order-link-address"),
    path("orders/track/<str:token>/invoice/", views.order_link_invoice, name="order-link-invoice"),
    path("orders/pay/<str:token>/", views.pay_again, name="pay-again"),
    # accounts
    path("account/login/", views.LoginView.as_view(), name="login"),
    path("account/logout/", views.LogoutView.as_view(), name="logout"),
    path("account/register/", views.register, name="register"),
    path("account/password-reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "account/password-reset/sent/",
        views.PasswordResetDoneView.as_view(),
        name="password-reset-done",
    ),
    path(
        "account/password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "account/password-reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    path("account/claim/send/", views.account_claim_send, name="account-claim-send"),
    path("account/claim/<str:token>/", views.account_claim, name="account-claim"),
    path("account/orders/", views.account_orders, name="account-orders"),
    path("account/orders/<str:number>/", views.account_order, name="account-order"),
    path(
        "account/orders/<str:number>/cancel/",
        views.account_order_cancel,
        name="account-order-cancel",
    ),
    path(
        "account/orders/<str:number>/address/",
        views.account_order_address,
        name="account-order-address",
    ),
    path(
        "account/orders/<str:number>/invoice/",
        views.account_order_invoice,
        name="account-order-invoice",
    ),
]
