"""Customer pages: the shop, checkout and the customer's own orders."""

from django.urls import path

from orders.shop import account, cart, catalogue, checkout, hosted_payment, order_pages

app_name = "orders"
urlpatterns = [
    # the shop
    path("", catalogue.product_list, name="product-list"),
    path("products/<str:sku>/", catalogue.product_detail, name="product-detail"),
    path("cart/", cart.cart_view, name="cart"),
    path("cart/add/", cart.cart_add, name="cart-add"),
    path("cart/update/", cart.cart_update, name="cart-update"),
    path("checkout/", checkout.checkout, name="checkout"),
    path("checkout/summary/", checkout.checkout_summary, name="checkout-summary"),
    path("checkout/received/<str:number>/", checkout.order_received, name="order-received"),
    # back from the card provider's payment page (Stripe Checkout)
    path("checkout/return/<str:token>/", hosted_payment.checkout_return, name="checkout-return"),
    path(
        "checkout/return/<str:token>/cancelled/",
        hosted_payment.checkout_cancelled,
        name="checkout-cancelled",
    ),
    # guest links from emails, and paying again after a declined card
    path("orders/track/<str:token>/", order_pages.order_link, name="order-link"),
    path(
        "orders/track/<str:token>/cancel/", order_pages.order_link_cancel, name="order-link-cancel"
    ),
    path(
        "orders/track/<str:token>/address/",
        order_pages.order_link_address,
        name="order-link-address",
    ),
    path(
        "orders/track/<str:token>/invoice/",
        order_pages.order_link_invoice,
        name="order-link-invoice",
    ),
    path("orders/pay/<str:token>/", order_pages.pay_again, name="pay-again"),
    # accounts
    path("account/login/", account.LoginView.as_view(), name="login"),
    path("account/logout/", account.LogoutView.as_view(), name="logout"),
    path("account/register/", account.register, name="register"),
    path("account/password-reset/", account.PasswordResetView.as_view(), name="password-reset"),
    path(
        "account/password-reset/sent/",
        account.PasswordResetDoneView.as_view(),
        name="password-reset-done",
    ),
    path(
        "account/password-reset/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "account/password-reset/done/",
        account.PasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    path("account/claim/send/", account.account_claim_send, name="account-claim-send"),
    path("account/claim/<str:token>/", account.account_claim, name="account-claim"),
    path("account/orders/", account.account_orders, name="account-orders"),
    path("account/orders/<str:number>/", order_pages.account_order, name="account-order"),
    path(
        "account/orders/<str:number>/cancel/",
        order_pages.account_order_cancel,
        name="account-order-cancel",
    ),
    path(
        "account/orders/<str:number>/address/",
        order_pages.account_order_address,
        name="account-order-address",
    ),
    path(
        "account/orders/<str:number>/invoice/",
        order_pages.account_order_invoice,
        name="account-order-invoice",
    ),
]
