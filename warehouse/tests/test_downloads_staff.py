"""A digital order whose product has no file is held (`download_missing`) with a note naming
the product, until staff upload the file and release it; then its links go out. Staff send an
order's download links again from its page in the console (extending expired links)."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from orders.models import EventType, HoldReason, Notification, Order, OrderHold, OrderStatus
from orders.permissions import CUSTOMER_SERVICE, MANAGERS, WAREHOUSE
from orders.services import NotPermitted, order_cancel, order_hold, order_release
from orders.tests.factories import BERLIN, place_order, staff_user
from warehouse.exceptions import FulfilmentRefused
from warehouse.models import DigitalAsset, DownloadGrant, Shipment
from warehouse.services import downloads

pytestmark = pytest.mark.django_db
SITE = "http://127.0.0.1:8000"
NOTE = (
    "The product EBOOK-001 has no file to download. Upload it under Warehouse → Digital "
    "assets, then release the order: the download links go out when it is released."
)


def _ebook_order(capture, lines=(("EBOOK-001", 1),), **kwargs) -> Order:
    digital_only = all(sku == "EBOOK-001" for sku, _ in lines)
    if digital_only:
        kwargs.update(shipping_address=None, shipping_method=None, billing_address=BERLIN)
    with capture(execute=True):
        order = place_order(list(lines), **kwargs).order
    return Order.objects.prefetch_related("holds").get(pk=order.pk)


def _attach_file(product, *, max_downloads: int = 3, link_valid_days: int = 7) -> DigitalAsset:
    asset = DigitalAsset(
        product=product,
        filename="book.pdf",
        max_downloads=max_downloads,
        link_valid_days=link_valid_days,
    )
    asset.file.save("book.pdf", ContentFile(b"%PDF-1.4 the book"), save=False)
    asset.save()
    return asset


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _download_mails() -> list:
    return [m for m in mail.outbox if m.subject.startswith("Your downloads")]


def _links_in(message) -> list[str]:
    return re.findall(rf"{re.escape(SITE)}/downloads/\S+/", message.body)


# --- held while the product has no file ---------------------------------------------------


def test_a_digital_order_without_a_file_is_held_with_the_product_named(
    catalogue, django_capture_on_commit_callbacks
):
    # when an ebook is bought and paid before its file is uploaded
    order = _ebook_order(django_capture_on_commit_callbacks)

    # then it is held from ready, for the missing file, and nothing is sent
    assert order.status == OrderStatus.ON_HOLD
    assert order.held_from == OrderStatus.READY
    assert order.active_hold_reasons() == [HoldReason.DOWNLOAD_MISSING]
    hold = OrderHold.objects.get(order=order, released_at__isnull=True)
    assert hold.message == NOTE
    assert not DownloadGrant.objects.exists()
    assert _download_mails() == []
    assert order.events.filter(type=EventType.HELD, message=NOTE).exists()


def test_the_release_is_refused_until_the_file_is_there_then_the_links_go_out(
    client, catalogue, django_capture_on_commit_callbacks, signing_clock_held
):
    order = _ebook_order(django_capture_on_commit_callbacks)
    agent = staff_user(CUSTOMER_SERVICE)

    # when staff release it before the file is uploaded: refused, nothing changes
    with pytest.raises(FulfilmentRefused, match="still no file to download for EBOOK-001"):
        order_release(order_id=order.pk, actor=agent)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD

    # when the file is uploaded and the order released
    _attach_file(catalogue["ebook"])
    with django_capture_on_commit_callbacks(execute=True):
        order_release(order_id=order.pk, actor=agent, note="File uploaded.")

    # then the links go out in one email, and the order (only digital goods) is delivered
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.DELIVERED
    grant = DownloadGrant.objects.get(order_line__order=order)
    (links_mail,) = _download_mails()
    assert _links_in(links_mail) == [downloads.download_url(grant)]
    response = client.get(downloads.download_url(grant).removeprefix(SITE))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 the book"


def test_an_order_with_goods_to_ship_is_held_too_and_goes_back_to_ready(
    catalogue, django_capture_on_commit_callbacks
):
    # given a mug and an ebook without its file
    order = _ebook_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1), ("EBOOK-001", 1)]
    )
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.DOWNLOAD_MISSING]
    assert Shipment.objects.filter(order=order).count() == 1

    # when the file is there and the order released
    _attach_file(catalogue["ebook"])
    with django_capture_on_commit_callbacks(execute=True):
        order_release(order_id=order.pk, actor=staff_user(CUSTOMER_SERVICE))

    # then it is ready for the warehouse again (the mug still to ship), with the links sent
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY
    assert Shipment.objects.filter(order=order).count() == 1
    assert DownloadGrant.objects.filter(order_line__order=order).count() == 1
    assert len(_download_mails()) == 1


def test_an_order_whose_file_is_there_is_delivered_at_once(
    catalogue, django_capture_on_commit_callbacks
):
    _attach_file(catalogue["ebook"])
    order = _ebook_order(django_capture_on_commit_callbacks)
    assert order.status == OrderStatus.DELIVERED
    assert not order.holds.exists()
    assert len(_download_mails()) == 1


def test_an_order_left_ready_before_this_hold_existed_is_put_right_by_holding_it(
    catalogue, django_capture_on_commit_callbacks
):
    # given an ebook order left `ready` with no links (as orders were before such an order
    # was held)
    order = _ebook_order(django_capture_on_commit_callbacks)
    OrderHold.objects.filter(order=order).delete()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.READY, held_from="")
    agent = staff_user(CUSTOMER_SERVICE)

    # when staff hold it for the missing file, upload it and release the order
    order_hold(order_id=order.pk, actor=agent, reason=HoldReason.DOWNLOAD_MISSING, note="")
    _attach_file(catalogue["ebook"])
    with django_capture_on_commit_callbacks(execute=True):
        order_release(order_id=order.pk, actor=agent)

    # then its links go out and it is delivered
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED
    assert len(_download_mails()) == 1


# --- the same through the console ---------------------------------------------------------


def test_staff_see_the_reason_in_the_queue_upload_the_file_and_release(
    client, catalogue, django_capture_on_commit_callbacks
):
    order = _ebook_order(django_capture_on_commit_callbacks)
    agent = staff_user(CUSTOMER_SERVICE)
    client.force_login(agent)

    # the held-orders queue says why, naming the product
    queue = client.get(reverse("admin:orders_heldorder_changelist"))
    assert queue.status_code == 200
    assert f"<strong>Download file missing</strong>: {NOTE}" in queue.content.decode()

    # releasing from the queue is refused with that reason while the file is missing
    refused = client.post(
        reverse("admin:orders_heldorder_changelist"),
        {"action": "release_selected", "_selected_action": [order.pk], "apply": "1", "note": ""},
        follow=True,
    )
    assert any("still no file to download for EBOOK-001" in m for m in _messages(refused))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD

    # a manager uploads the file in the console
    client.force_login(staff_user(MANAGERS))
    added = client.post(
        reverse("admin:warehouse_digitalasset_add"),
        {
            "product": catalogue["ebook"].pk,
            "file": SimpleUploadedFile("book.pdf", b"%PDF-1.4 the book", "application/pdf"),
            "filename": "book.pdf",
            "max_downloads": "5",
            "link_valid_days": "7",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    assert DigitalAsset.objects.filter(product=catalogue["ebook"]).exists()

    # customer service releases it from the order's page
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=True):
        released = client.post(
            reverse("admin:orders_order_action", args=[order.pk, "release"]),
            {"note": "File uploaded."},
            follow=True,
        )
    assert any("Release: done" in m and "delivered" in m for m in _messages(released))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED
    assert len(_download_mails()) == 1


# --- resending the links ------------------------------------------------------------------


def test_resending_extends_expired_links_and_sends_a_new_email(
    client, catalogue, django_capture_on_commit_callbacks, signing_clock_held
):
    # given a delivered ebook order whose link has expired
    asset = _attach_file(catalogue["ebook"], link_valid_days=10)
    order = _ebook_order(django_capture_on_commit_callbacks)
    grant = DownloadGrant.objects.get(order_line__order=order)
    DownloadGrant.objects.filter(pk=grant.pk).update(
        expires_at=timezone.now() - timedelta(days=1), download_count=1
    )
    url = downloads.download_url(grant).removeprefix(SITE)
    assert client.get(url).status_code == 403
    agent = staff_user(CUSTOMER_SERVICE)

    # when staff resend the links
    with django_capture_on_commit_callbacks(execute=True):
        sent = downloads.download_links_resend(order_id=order.pk, actor=agent)

    # then the link is good for the file's 10 days again (the download used stays used), and
    # the customer has a second email with it
    assert (sent.files, sent.extended, sent.used_up) == (1, 1, [])
    grant.refresh_from_db()
    assert timezone.now() + timedelta(days=9) < grant.expires_at
    assert grant.expires_at <= timezone.now() + timedelta(days=asset.link_valid_days)
    assert grant.download_count == 1
    _first, second = _download_mails()
    assert _links_in(second) == [downloads.download_url(grant)]
    assert "up to 2 downloads" in second.body
    assert client.get(url).status_code == 200
    assert order.events.filter(
        type=EventType.DOWNLOADS_SENT,
        message="Download links sent again for 1 file; 1 expired link extended.",
    ).exists()

    # and a second resend is a third email, not a repeat swallowed by the outbox
    with django_capture_on_commit_callbacks(execute=True):
        again = downloads.download_links_resend(order_id=order.pk, actor=agent)
    assert again.extended == 0
    assert len(_download_mails()) == 3
    assert Notification.objects.filter(order=order, kind="download_links").count() == 3


def test_resending_is_refused_for_a_cancelled_order_or_one_without_links(
    catalogue, django_capture_on_commit_callbacks
):
    agent = staff_user(CUSTOMER_SERVICE)
    # held without a file: no links yet
    held = _ebook_order(django_capture_on_commit_callbacks)
    with pytest.raises(FulfilmentRefused, match="has no download links to resend"):
        downloads.download_links_resend(order_id=held.pk, actor=agent)
    # cancelled: its links are revoked
    _attach_file(catalogue["ebook"])
    with django_capture_on_commit_callbacks(execute=True):
        order_release(order_id=held.pk, actor=agent)
    paid = _ebook_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1), ("EBOOK-001", 1)]
    )
    order_cancel(order_id=paid.pk, actor=agent, reason="Changed my mind")
    with pytest.raises(FulfilmentRefused, match="is cancelled"):
        downloads.download_links_resend(order_id=paid.pk, actor=agent)
    # and someone without the permission may not
    with pytest.raises(NotPermitted):
        downloads.download_links_resend(order_id=held.pk, actor=staff_user(WAREHOUSE))
    assert len(_download_mails()) == 2  # one for each order, none resent


def test_the_resend_button_on_the_order_page(client, catalogue, django_capture_on_commit_callbacks):
    # given a delivered ebook order whose customer used the link up
    _attach_file(catalogue["ebook"], max_downloads=1)
    order = _ebook_order(django_capture_on_commit_callbacks)
    DownloadGrant.objects.filter(order_line__order=order).update(download_count=1)
    page_url = reverse("admin:orders_order_change", args=[order.pk])
    resend_url = reverse("admin:warehouse_downloadgrant_resend", args=[order.pk])

    # customer service sees the links and the button
    client.force_login(staff_user(CUSTOMER_SERVICE))
    page = client.get(page_url).content.decode()
    assert '<h2 id="downloads-panel-title">Downloads</h2>' in page
    assert "book.pdf" in page and "used up" in page
    assert f'action="{resend_url}"' in page
    assert client.get(resend_url).status_code == 405

    # and pressing it sends the email, saying the used-up link will not open
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(resend_url, follow=True)
    assert response.redirect_chain[-1][0] == page_url
    messages = _messages(response)
    assert f"Download links for 1 file of order {order.number} sent again." in messages
    assert any(m.startswith("Already downloaded as often as allowed") for m in messages)
    assert len(_download_mails()) == 2

    # the warehouse sees the links but has no button, and a post is refused
    client.force_login(staff_user(WAREHOUSE))
    page = client.get(page_url).content.decode()
    assert "book.pdf" in page
    assert resend_url not in page
    assert client.post(resend_url).status_code == 403
    assert len(_download_mails()) == 2


def test_the_button_reports_a_refusal_and_is_absent_without_links(
    client, catalogue, django_capture_on_commit_callbacks
):
    held = _ebook_order(django_capture_on_commit_callbacks)
    client.force_login(staff_user(CUSTOMER_SERVICE))
    resend_url = reverse("admin:warehouse_downloadgrant_resend", args=[held.pk])
    page = client.get(reverse("admin:orders_order_change", args=[held.pk])).content.decode()
    assert resend_url not in page
    response = client.post(resend_url, follow=True)
    assert f"Resend download links: Order {held.number} has no download links to resend." in (
        _messages(response)
    )
    assert (
        client.post(reverse("admin:warehouse_downloadgrant_resend", args=[999999])).status_code
        == 404
    )


def test_a_cancelled_order_shows_its_revoked_links_and_no_button(
    client, catalogue, django_capture_on_commit_callbacks
):
    _attach_file(catalogue["ebook"])
    order = _ebook_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1), ("EBOOK-001", 1)]
    )
    order_cancel(order_id=order.pk, actor="test", reason="Changed my mind")
    client.force_login(staff_user(CUSTOMER_SERVICE))
    resend_url = reverse("admin:warehouse_downloadgrant_resend", args=[order.pk])

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "book.pdf" in page and "revoked" in page
    assert resend_url not in page
    response = client.post(resend_url, follow=True)
    assert any("is cancelled" in m for m in _messages(response))
    assert len(_download_mails()) == 1


# --- a hold for a missing file on an order whose links went out -----------------------------


def test_releasing_a_download_hold_of_an_order_whose_links_went_out_sends_nothing_again(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a mug and an ebook whose file is there: the links went out when it was paid
    _attach_file(catalogue["ebook"])
    order = _ebook_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1), ("EBOOK-001", 1)]
    )
    assert order.status == OrderStatus.READY
    assert len(_download_mails()) == 1

    # when customer service hold it with "Download file missing" on its page, and release it
    client.force_login(staff_user(CUSTOMER_SERVICE))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:orders_order_action", args=[order.pk, "hold"]),
            {"reason": HoldReason.DOWNLOAD_MISSING, "note": "Checking the file."},
        )
        assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD
        released = client.post(
            reverse("admin:orders_order_action", args=[order.pk, "release"]),
            {"note": ""},
            follow=True,
        )

    # then it is ready again, and the customer has no second email with the same links
    assert any("Release: done" in m for m in _messages(released))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY
    assert len(_download_mails()) == 1
    assert Notification.objects.filter(order=order, kind="download_links").count() == 1
    assert order.events.filter(type=EventType.DOWNLOADS_SENT).count() == 1
    assert DownloadGrant.objects.filter(order_line__order=order).count() == 1


def test_a_file_added_since_the_links_went_out_is_sent_with_them_on_release(
    catalogue, django_capture_on_commit_callbacks, signing_clock_held
):
    # given a mixed order whose ebook links went out, and then a second file for the ebook
    _attach_file(catalogue["ebook"])
    order = _ebook_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1), ("EBOOK-001", 1)]
    )
    agent = staff_user(CUSTOMER_SERVICE)
    order_hold(order_id=order.pk, actor=agent, reason=HoldReason.DOWNLOAD_MISSING, note="")
    extra = DigitalAsset(product=catalogue["ebook"], filename="extras.zip")
    extra.file.save("extras.zip", ContentFile(b"PK extras"), save=False)
    extra.save()

    # when the order is released
    with django_capture_on_commit_callbacks(execute=True):
        order_release(order_id=order.pk, actor=agent)

    # then the customer gets one new email with both links
    _first, second = _download_mails()
    grants = DownloadGrant.objects.filter(order_line__order=order).order_by("pk")
    assert _links_in(second) == [downloads.download_url(grant) for grant in grants]


# --- resending: not for orders on hold or refunded in full --------------------------------


def _refund(order, capture, *, amount=None):
    """Refund `amount` of the order's card payment (all of it unless told)."""
    from payments.models import Payment
    from payments.services import refund_create

    payment = Payment.objects.get(order=order)
    with capture(execute=True):
        refund_create(
            payment_id=payment.pk,
            amount=amount if amount is not None else payment.amount_captured,
            reason="Refunded",
            actor=staff_user(MANAGERS),
            idempotency_key=f"refund-{payment.pk}-{amount}",
        )


def test_resending_is_refused_for_an_order_on_hold(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a mixed order whose links went out, then held for fraud
    _attach_file(catalogue["ebook"])
    order = _ebook_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1), ("EBOOK-001", 1)]
    )
    agent = staff_user(CUSTOMER_SERVICE)
    order_hold(order_id=order.pk, actor=agent, reason=HoldReason.FRAUD_RISK, note="Chargeback")
    DownloadGrant.objects.filter(order_line__order=order).update(
        expires_at=timezone.now() - timedelta(days=1)
    )

    # when staff resend the links: refused, the link stays expired, nothing is sent
    with pytest.raises(FulfilmentRefused) as refused:
        downloads.download_links_resend(order_id=order.pk, actor=agent)
    assert refused.value.message == (
        f"Order {order.number} is on hold (Fraud risk): its download links are not sent while "
        "it is held. Release the order first."
    )
    assert DownloadGrant.objects.get(order_line__order=order).expires_at < timezone.now()
    assert len(_download_mails()) == 1

    # and the order page has no button; a post anyway says why
    client.force_login(agent)
    resend_url = reverse("admin:warehouse_downloadgrant_resend", args=[order.pk])
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "book.pdf" in page and resend_url not in page
    response = client.post(resend_url, follow=True)
    assert f"Resend download links: {refused.value.message}" in _messages(response)
    assert len(_download_mails()) == 1


def test_a_full_refund_revokes_the_links_and_resending_is_refused(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a delivered ebook order with its link
    _attach_file(catalogue["ebook"])
    order = _ebook_order(django_capture_on_commit_callbacks)
    grant = DownloadGrant.objects.get(order_line__order=order)
    url = downloads.download_url(grant).removeprefix(SITE)
    assert client.get(url).status_code == 200

    # when it is refunded in full
    _refund(order, django_capture_on_commit_callbacks)

    # then the link no longer opens, the timeline says why, and a resend is refused
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert client.get(url).status_code == 403
    assert order.events.filter(
        type=EventType.NOTE,
        message="Download links revoked (1 file): the order is fully refunded.",
    ).exists()
    with pytest.raises(FulfilmentRefused) as refused:
        downloads.download_links_resend(order_id=order.pk, actor=staff_user(CUSTOMER_SERVICE))
    assert refused.value.message == (
        f"Order {order.number} is fully refunded: its download links are revoked, so there is "
        "nothing to resend."
    )
    assert len(_download_mails()) == 1


def test_a_partial_refund_leaves_the_links(catalogue, django_capture_on_commit_callbacks):
    # given a mixed order whose ebook links went out, and the mug refunded
    _attach_file(catalogue["ebook"])
    order = _ebook_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1), ("EBOOK-001", 1)]
    )
    _refund(order, django_capture_on_commit_callbacks, amount="10.00")

    # then the links still work and may be sent again
    assert DownloadGrant.objects.get(order_line__order=order).revoked_at is None
    with django_capture_on_commit_callbacks(execute=True):
        downloads.download_links_resend(order_id=order.pk, actor=staff_user(CUSTOMER_SERVICE))
    assert len(_download_mails()) == 2
