"""Carriers behind one interface: check a tracking number against the carrier's format and
build the customer's tracking link. No carrier API is called: shipping labels are PDFs in our
own layout (warehouse.documents.shipping_label_pdf)."""

import re
from dataclasses import dataclass
from urllib.parse import quote

from warehouse.models import Carrier


@dataclass(frozen=True)
class CarrierSpec:
    code: str
    name: str
    tracking_pattern: str
    tracking_hint: str
    tracking_url: str  # with {number}
    service_levels: tuple[str, ...]

    def normalise(self, number: str) -> str:
        return re.sub(r"[\s-]", "", number or "").upper()

    def validate(self, number: str) -> str:
        """The normalised number, or ValueError with the format the carrier uses."""
        normalised = self.normalise(number)
        # re.ASCII: \d is 0-9 only, not every script's digits
        if not re.fullmatch(self.tracking_pattern, normalised, re.ASCII):
            raise ValueError(
                f"{number!r} is not a {self.name} tracking number ({self.tracking_hint})."
            )
        return normalised

    def url(self, number: str) -> str:
        """The carrier's public tracking page ("" for our own vans: no such page)."""
        return self.tracking_url.format(number=quote(number)) if self.tracking_url else ""


CARRIERS: dict[str, CarrierSpec] = {
    Carrier.UPS: CarrierSpec(
        "ups",
        "UPS",
        r"1Z[0-9A-Z]{16}",
        "1Z followed by 16 letters or digits",
        "https://www.ups.com/track?tracknum={number}",
        ("UPS Standard", "UPS Express Saver", "UPS Express"),
    ),
    Carrier.FEDEX: CarrierSpec(
        "fedex",
        "FedEx",
        r"\d{12}|\d{15}|\d{20}|\d{22}",
        "12, 15, 20 or 22 digits",
        "https://www.fedex.com/fedextrack/?trknbr={number}",
        ("FedEx Ground", "FedEx International Economy", "FedEx Priority Overnight"),
    ),
    Carrier.DHL: CarrierSpec(
        "dhl",
        "DHL",
        r"\d{10}|\d{12}|JJD\d{10,20}|JVGL\d{8,20}",
        "10 or 12 digits, or JJD/JVGL followed by digits",
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
        ("DHL Paket", "DHL Express Worldwide"),
    ),
    Carrier.USPS: CarrierSpec(
        "usps",
        "USPS",
        r"(94|93|92|95)\d{18,20}|[A-Z]{2}\d{9}US",
        "20 to 22 digits starting 92-95, or two letters, 9 digits and US",
        "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
        ("USPS Ground Advantage", "USPS Priority Mail", "USPS Priority Mail Express"),
    ),
    Carrier.OWN: CarrierSpec(
        "own",
        "Own delivery",
        r"[0-9A-Z]{4,30}",
        "4 to 30 letters or digits",
        "",
        ("Own van", "Courier"),
    ),
}


def carrier(code: str) -> CarrierSpec:
    try:
        return CARRIERS[code]
    except KeyError as exc:
        raise ValueError(f"Unknown carrier {code!r}; use one of {', '.join(CARRIERS)}.") from exc
