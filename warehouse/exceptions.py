from orders.exceptions import DomainError


class OutOfStock(DomainError):
    """Not enough sellable stock. `shortages` maps SKU to (requested, available)."""

    code = "out_of_stock"
    http_status = 409

    def __init__(self, shortages: dict[str, tuple[int, int]]):
        self.shortages = shortages
        parts = [
            f"{sku}: {available} available, {requested} requested"
            for sku, (requested, available) in sorted(shortages.items())
        ]
        super().__init__(
            "Not enough stock for " + "; ".join(parts) + ".",
            fields={"lines": [f"{sku} is out of stock." for sku in sorted(shortages)]},
        )


class InvalidStockChange(DomainError):
    code = "invalid_stock_change"
    http_status = 422


class FulfilmentRefused(DomainError):
    """A picking, packing, shipping or tracking step that cannot be taken now, and why."""

    code = "fulfilment_refused"
    http_status = 422


class DownloadRefused(DomainError):
    code = "download_refused"
    http_status = 403


class AppointmentRefused(DomainError):
    code = "appointment_refused"
    http_status = 422
