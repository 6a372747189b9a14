"""Warehouse paperwork as PDFs (reportlab, pure Python): pick lists with barcodes per order
and per bin, packing slips, and shipping labels in our own layout."""

from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.template.defaultfilters import pluralize
from reportlab.graphics.barcode import createBarcodeDrawing
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, A6
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from orders.countries import country_name
from warehouse.models import PickList, Shipment
from warehouse.services.picking import picklist_items_for_walk

STYLES = getSampleStyleSheet()
SMALL = ParagraphStyle("small", parent=STYLES["Normal"], fontSize=8, leading=10)
NORMAL = ParagraphStyle("normal", parent=STYLES["Normal"], fontSize=10, leading=13)


def barcode(value: str, *, height: float = 10 * mm, width: float = 0.9) -> Drawing:
    return createBarcodeDrawing(
        "Code128", value=value, barHeight=height, barWidth=width, humanReadable=True, fontSize=7
    )


def qr(value: str, size: float = 28 * mm) -> Drawing:
    widget = QrCodeWidget(value)
    x1, y1, x2, y2 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), 0, 0])
    drawing.add(widget)
    return drawing


def _lines(lines: list[str]) -> str:
    """Lines of text for a Paragraph, which reads markup: what people typed is escaped."""
    return "<br/>".join(escape(line) for line in lines)


def _document(title: str, pagesize: Any = A4, margin: float = 15 * mm) -> tuple[BytesIO, Any]:
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=title,
        author=settings.SELLER_NAME,
    )
    return buffer, doc


def _grid(rows: list[list[Any]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def picklist_pdf(pick_list: PickList) -> bytes:
    groups = picklist_items_for_walk(pick_list)
    buffer, doc = _document(f"Pick list {pick_list.code}")
    orders = sorted(
        {item.shipment_line.shipment.order for group in groups for item in group["items"]},
        key=lambda order: order.number,
    )
    units = sum(g["quantity"] for g in groups)
    story: list[Any] = [
        Paragraph(f"Pick list {pick_list.code} — {pick_list.warehouse.name}", STYLES["Title"]),
        Paragraph(
            f"Created {pick_list.created_at:%d %b %Y %H:%M}. {len(orders)} "
            f"order{pluralize(len(orders))}, {units} unit{pluralize(units)}. "
            "Walk the bins in this order.",
            NORMAL,
        ),
        Spacer(1, 4 * mm),
        barcode(pick_list.code),
        Spacer(1, 4 * mm),
    ]
    rows: list[list[Any]] = [["Bin", "SKU / item", "Qty", "For orders", "Picked"]]
    for group in groups:
        location = group["location"]
        bin_cell = barcode(location.code, height=7 * mm, width=0.7) if location else "ask a lead"
        for_orders = ", ".join(
            f"{item.shipment_line.shipment.order.number} ×{item.quantity}"
            for item in group["items"]
        )
        rows.append(
            [
                bin_cell,
                Paragraph(f"<b>{group['product'].sku}</b><br/>{group['product'].name}", SMALL),
                str(group["quantity"]),
                Paragraph(for_orders, SMALL),
                "____",
            ]
        )
    story.append(_grid(rows, [45 * mm, 55 * mm, 12 * mm, 50 * mm, 16 * mm]))
    story += [Spacer(1, 6 * mm), Paragraph("Orders in this wave", STYLES["Heading3"])]
    order_rows: list[list[Any]] = [["Order", "Barcode", "Ship by"]]
    for order in orders:
        order_rows.append(
            [
                order.number,
                barcode(order.number, height=7 * mm, width=0.8),
                f"{order.promised_ship_by or ''}",
            ]
        )
    story.append(_grid(order_rows, [30 * mm, 80 * mm, 40 * mm]))
    doc.build(story)
    return buffer.getvalue()


def packing_slip_pdf(shipment: Shipment) -> bytes:
    order = shipment.order
    buffer, doc = _document(f"Packing slip {order.number}")
    address = order.shipping_address
    story: list[Any] = [
        Table(
            [
                [
                    Paragraph(f"<b>Packing slip</b><br/>Order {order.number}", STYLES["Heading2"]),
                    barcode(order.number),
                ]
            ],
            colWidths=[100 * mm, 80 * mm],
        ),
        Spacer(1, 4 * mm),
        Paragraph("<b>Ship to</b><br/>" + _lines(address.as_lines() if address else []), NORMAL),
        Spacer(1, 4 * mm),
        Paragraph(
            f"Shipment {shipment.pk} from {shipment.warehouse.name}"
            + (f", {shipment.package.package_type.name}" if hasattr(shipment, "package") else ""),
            SMALL,
        ),
        Spacer(1, 4 * mm),
    ]
    rows: list[list[Any]] = [["SKU", "Item", "Qty", "Checked"]]
    for line in shipment.lines.select_related("order_line"):
        rows.append(
            [line.order_line.sku, Paragraph(line.order_line.name, SMALL), str(line.quantity), "☐"]
        )
    story.append(_grid(rows, [40 * mm, 95 * mm, 15 * mm, 20 * mm]))
    story += [Spacer(1, 8 * mm), Paragraph("Thank you for your order.", NORMAL)]
    doc.build(story)
    return buffer.getvalue()


def shipping_label_pdf(shipment: Shipment) -> bytes:
    """A 105 × 148 mm (A6) label: sender, recipient, carrier, service, weight, tracking
    barcode and a QR code of the tracking link."""
    order = shipment.order
    address = order.shipping_address
    buffer, doc = _document(f"Label {shipment.tracking_number}", pagesize=A6, margin=6 * mm)
    sender = _lines(
        [settings.SELLER_NAME, shipment.warehouse.name, country_name(shipment.warehouse.country)]
    )
    weight = (
        f"{shipment.package.weight_grams / 1000:.2f} kg" if hasattr(shipment, "package") else ""
    )
    story: list[Any] = [
        Paragraph(f"<b>{escape(shipment.carrier_and_service)}</b>", NORMAL),
        Paragraph(f"From: {sender}", SMALL),
        Spacer(1, 3 * mm),
        Paragraph(
            "<b>To:</b><br/>" + _lines(address.as_lines() if address else []),
            ParagraphStyle("to", parent=NORMAL, fontSize=12, leading=15),
        ),
        Spacer(1, 3 * mm),
        Paragraph(f"Order {order.number} · shipment {shipment.pk} · {weight}", SMALL),
        Spacer(1, 2 * mm),
        barcode(shipment.tracking_number or order.number, height=14 * mm, width=0.8),
    ]
    if shipment.tracking_url:
        story += [Spacer(1, 2 * mm), qr(shipment.tracking_url, size=24 * mm)]
    doc.build(story)
    return buffer.getvalue()
