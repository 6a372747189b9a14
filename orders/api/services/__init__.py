"""Partner API services: every write the API and its admin make goes through here
(DESIGN.md rules 2 and 5), a module per concern. Orders are placed and cancelled by the same
order services every other channel uses; these add partners, keys, idempotency and webhook
endpoints."""

from orders.api.services.errors import (
    MAX_REASON_LENGTH,
    MAX_WEBHOOK_ENDPOINTS,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
    LimitReached,
    NotFound,
)
from orders.api.services.partner_orders import (
    IdempotentResponse,
    idempotency_records_purge,
    partner_order_cancel,
    partner_order_place,
    validate_idempotency_key,
)
from orders.api.services.partners import (
    partner_api_key_create,
    partner_api_key_revoke,
    partner_api_key_update,
    partner_create,
    partner_update,
    partner_validate,
)
from orders.api.services.webhook_endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_endpoint_update,
    webhook_endpoint_validate,
)

__all__ = [
    "MAX_REASON_LENGTH",
    "MAX_WEBHOOK_ENDPOINTS",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "IdempotentResponse",
    "InvalidRequest",
    "LimitReached",
    "NotFound",
    "idempotency_records_purge",
    "partner_api_key_create",
    "partner_api_key_revoke",
    "partner_api_key_update",
    "partner_create",
    "partner_order_cancel",
    "partner_order_place",
    "partner_update",
    "partner_validate",
    "validate_idempotency_key",
    "webhook_endpoint_create",
    "webhook_endpoint_disable",
    "webhook_endpoint_update",
    "webhook_endpoint_validate",
]
