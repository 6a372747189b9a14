"""The customer site in a real browser (Playwright driving Debian's chromium) against a live
server: a guest buys two products with the test card and follows the emailed link to the
order page; the checkout shows the total before placing and follows the address and the
delivery; a registered customer cancels an order. Screenshots go to test-artifacts/."""

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.db import connections

from orders.models import Customer, Order, OrderStatus
from orders.tests.factories import ShippingMethodFactory, UserFactory, place_order

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium); CI has it",
    ),
]


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are ordinary synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    cache.clear()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()
        # ORM calls made while Playwright's loop was running used connections of their own
        # context; close them, or the test database cannot be dropped afterwards.
        connections.close_all()
    cache.clear()


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def _add_to_cart(page, base: str, sku: str, quantity: int = 1) -> None:
    page.goto(f"{base}/products/{sku}/")
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(f"{base}/cart/")


def test_a_guest_buys_two_products_and_follows_the_emailed_link(
    browser_page, live_server, catalogue
):
    page, base = browser_page, live_server.url
    page.goto(base + "/")
    page.get_by_role("searchbox", name="Search products").fill("mug")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Mug").click()
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(f"{base}/cart/")
    _add_to_cart(page, base, "TEE-001", 2)
    page.get_by_role("link", name="Go to checkout").click()

    page.get_by_label("Email").fill("guest@example.com")
    page.get_by_label("Full name").first.fill("Ada Lovelace")
    page.get_by_label("Street and house number").first.fill("Torstraße 1")
    page.get_by_label("City").first.fill("Berlin")
    page.get_by_label("Postal code").first.fill("10119")
    page.get_by_label("Country").first.select_option("DE")
    page.get_by_label("Standard").check()
    assert not page.locator("#billing-fields").is_visible()  # billed to the shipping address
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month").select_option("12")
    page.get_by_label("Expiry year").select_option(
        str(int(page.locator("#id_exp_year option").nth(3).get_attribute("value")))
    )
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Place order").dblclick()  # a double click: one order

    page.wait_for_url(re.compile(r".*/checkout/received/\d+/$"))
    assert "We have received order" in page.content()
    order = Order.objects.get()
    assert order.status == OrderStatus.READY
    assert sorted(order.lines.values_list("sku", "quantity")) == [("MUG-001", 1), ("TEE-001", 2)]

    confirmation = next(m for m in mail.outbox if m.subject.endswith("is confirmed"))
    link = re.search(r"https?://\S+/orders/track/\S+/", confirmation.body).group(0)
    path = re.sub(r"^https?://[^/]+", "", link)
    page.context.clear_cookies()  # opened from the mailbox: no session
    page.goto(base + path)
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == f"Order {order.number}"
    body = page.content()
    assert "Visa ending 4242: captured" in body
    assert "Create an account" in body
    assert page.locator(".progress li.done").count() == 2  # received, confirmed
    shot = _screenshot(page, "order-page.png")
    assert shot.stat().st_size > 10_000
    page.set_viewport_size({"width": 390, "height": 844})
    _screenshot(page, "order-page-mobile.png")


def test_the_checkout_shows_the_total_before_placing_and_follows_the_address(
    browser_page, live_server, catalogue
):
    from playwright.sync_api import expect

    # given free delivery in Berlin only, besides standard (5.00) and express (15.00)
    ShippingMethodFactory(
        code="local",
        name="Own delivery (Berlin)",
        carrier="own",
        price=Decimal("0.00"),
        countries=["DE"],
        postal_code_prefixes=["10", "12", "13", "140", "141"],
    )
    page, base = browser_page, live_server.url
    _add_to_cart(page, base, "MUG-001", 2)  # 20.00
    page.goto(base + "/checkout/")
    total, tax = page.locator("#summary-total"), page.locator("#summary-tax")
    expect(total).to_have_text("–")  # no country yet
    expect(page.locator("#update-total")).to_be_hidden()  # the script keeps the total current

    # when a Berlin address is filled in: the total with standard delivery, 19% included
    page.get_by_label("Email").fill("guest@example.com")
    page.get_by_label("Full name").first.fill("Ada Lovelace")
    page.get_by_label("Street and house number").first.fill("Torstraße 1")
    page.get_by_label("City").first.fill("Berlin")
    page.get_by_label("Postal code").first.fill("10119")
    page.get_by_label("Country").first.select_option("DE")
    expect(total).to_have_text("25.00 EUR")
    expect(tax).to_have_text("3.99 EUR")
    expect(page.locator("#summary-shipping")).to_have_text("5.00 EUR")

    # and the free local delivery is chosen
    page.get_by_label("Own delivery (Berlin)").check()
    expect(total).to_have_text("20.00 EUR")
    expect(page.locator("#summary-shipping")).to_have_text("0.00 EUR")

    # when the address moves to London: the local delivery is no longer offered, standard is
    # chosen, and the tax is the United Kingdom's 20%
    page.get_by_label("City").first.fill("London")
    page.get_by_label("Postal code").first.fill("N1 9GU")
    page.get_by_label("Country").first.select_option("GB")
    expect(page.get_by_label("Own delivery (Berlin)")).to_have_count(0)
    expect(page.get_by_label("Standard")).to_be_checked()
    expect(total).to_have_text("25.00 EUR")
    expect(tax).to_have_text("4.17 EUR")

    # and express is chosen
    page.get_by_label("Express").check()
    expect(total).to_have_text("35.00 EUR")
    expect(tax).to_have_text("5.83 EUR")
    _screenshot(page, "checkout-total.png")

    # when the order is placed, its total is the one shown
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month").select_option("12")
    page.get_by_label("Expiry year").select_option(
        str(int(page.locator("#id_exp_year option").nth(3).get_attribute("value")))
    )
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r".*/checkout/received/\d+/$"))
    order = Order.objects.get()
    assert order.shipping_method.code == "express"
    assert (order.shipping_total, order.tax_total, order.grand_total) == (
        Decimal("15.00"),
        Decimal("5.83"),
        Decimal("35.00"),
    )


def test_without_javascript_update_total_shows_the_total(browser_page, live_server, catalogue):
    from playwright.sync_api import expect

    context = browser_page.context.browser.new_context(java_script_enabled=False)
    page, base = context.new_page(), live_server.url
    page.set_default_timeout(15_000)
    try:
        _add_to_cart(page, base, "MUG-001", 2)  # 20.00
        page.goto(base + "/checkout/")
        update = page.get_by_role("button", name="Update total")
        expect(update).to_be_visible()

        # when only the country and postal code are filled in and "Update total" is pressed
        page.get_by_label("Postal code").first.fill("N1 9GU")
        page.get_by_label("Country").first.select_option("GB")
        update.click()

        # then the page comes back with the total for London and standard delivery, the
        # values typed kept, and no errors for the fields still empty
        expect(page.locator("#summary-total")).to_have_text("25.00 EUR")
        expect(page.locator("#summary-tax")).to_have_text("4.17 EUR")
        expect(page.get_by_label("Postal code").first).to_have_value("N1 9GU")
        assert page.locator(".errorlist").count() == 0

        # and with express chosen, pressed again
        page.get_by_label("Express").check()
        page.get_by_role("button", name="Update total").click()
        expect(page.locator("#summary-total")).to_have_text("35.00 EUR")
        expect(page.get_by_label("Express")).to_be_checked()
        assert not Order.objects.exists()

        # and when the rest is filled in and "Place order" pressed, it is placed at that total
        page.get_by_label("Email").fill("guest@example.com")
        page.get_by_label("Full name").first.fill("Ada Lovelace")
        page.get_by_label("Street and house number").first.fill("1 Upper Street")
        page.get_by_label("City").first.fill("London")
        page.get_by_label("Card number").fill("4242 4242 4242 4242")
        page.get_by_label("Expiry month").select_option("12")
        page.get_by_label("Expiry year").select_option(
            str(int(page.locator("#id_exp_year option").nth(3).get_attribute("value")))
        )
        page.get_by_label("Security code (CVC)").fill("123")
        page.get_by_role("button", name="Place order").click()
        page.wait_for_url(re.compile(r".*/checkout/received/\d+/$"))
        assert Order.objects.get().grand_total == Decimal("35.00")
    finally:
        context.close()


def test_a_registered_customer_cancels_an_order(browser_page, live_server, catalogue):
    user = UserFactory(
        username="ada@example.com",
        email="ada@example.com",
        is_staff=False,
        password="Secret-pass-1",
    )
    Customer.objects.create(email="ada@example.com", name="Ada Lovelace", user=user)
    order = place_order(email="ada@example.com", user=user).order
    page, base = browser_page, live_server.url

    page.goto(base + "/account/orders/")  # asks to log in first
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("Secret-pass-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name=f"Order {order.number}").click()
    page.get_by_role("link", name="Cancel order").click()
    page.get_by_label("Why are you cancelling?").fill("Ordered the wrong size")
    page.get_by_role("button", name="Cancel the order").click()

    page.wait_for_url(f"{base}/account/orders/{order.number}/")
    assert f"Order {order.number} is cancelled" in page.content()
    assert page.get_by_role("link", name="Cancel order").count() == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert "Ordered the wrong size" in order.cancellation_reason
    _screenshot(page, "cancelled-order.png")


def test_the_keyboard_reaches_the_content_first(browser_page, live_server, catalogue):
    page = browser_page
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Skip to content"
    assert page.evaluate("document.documentElement.lang") == "en"


def test_place_order_straight_after_an_address_change_waits_for_the_new_total(
    browser_page, live_server, catalogue, settings
):
    from playwright.sync_api import expect

    # given prices before tax, and the summary's answers held back until the test lets them
    # through (a slow network), so "Place order" is pressed before the new total arrives
    settings.PRICES_INCLUDE_TAX = False
    page, base = browser_page, live_server.url
    held = []

    def hold(route):
        held.append(route)

    page.route("**/checkout/summary/", hold)

    def answer_summary():
        while not held:
            page.wait_for_timeout(20)
        while held:
            held.pop(0).continue_()

    _add_to_cart(page, base, "MUG-001", 2)  # 20.00
    page.goto(base + "/checkout/")
    total = page.locator("#summary-total")
    page.get_by_label("Email").fill("guest@example.com")
    page.get_by_label("Full name").first.fill("Ada Lovelace")
    page.get_by_label("Street and house number").first.fill("Torstraße 1")
    page.get_by_label("City").first.fill("Berlin")
    page.get_by_label("Postal code").first.fill("10119")
    page.get_by_label("Country").first.select_option("DE")
    answer_summary()
    expect(total).to_have_text("29.75 EUR")  # 20.00 + 5.00, plus 19%
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month").select_option("12")
    page.get_by_label("Expiry year").select_option(
        str(int(page.locator("#id_exp_year option").nth(3).get_attribute("value")))
    )
    page.get_by_label("Security code (CVC)").fill("123")

    # when the address moves to London and "Place order" is pressed before its total is in
    page.get_by_label("City").first.fill("London")
    page.get_by_label("Postal code").first.fill("N1 9GU")
    page.get_by_label("Country").first.select_option("GB")
    page.get_by_role("button", name="Place order").click()
    expect(total).to_have_text("29.75 EUR")  # still Berlin's: the answer is held
    answer_summary()

    # then nothing is placed: the page shows London's total (plus 20%) and says it changed
    notice = page.locator("#total-changed")
    expect(notice).to_have_text(
        "The total changed to 30.00 EUR. Please check it and place the order."
    )
    expect(total).to_have_text("30.00 EUR")
    assert not Order.objects.exists()
    _screenshot(page, "checkout-total-changed.png")

    # when the postal code changes within London (the same total) and "Place order" is
    # pressed before that answer is in
    page.get_by_label("Postal code").first.fill("N1 9AA")
    page.get_by_role("button", name="Place order").click()
    answer_summary()

    # then the order is placed once the total is confirmed, at the total shown
    page.wait_for_url(re.compile(r".*/checkout/received/\d+/$"))
    order = Order.objects.get()
    assert order.shipping_address.postal_code == "N1 9AA"
    assert (order.tax_total, order.grand_total) == (Decimal("5.00"), Decimal("30.00"))
