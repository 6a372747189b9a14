"""Who may call the partner API: a request authenticated with a valid partner key. Which
orders it may see is decided by the selectors, which only ever look at its own."""

from typing import Any

from rest_framework.request import Request
from rest_framework_api_key.permissions import BaseHasAPIKey

from orders.api.models import PartnerAPIKey


class HasPartnerAPIKey(BaseHasAPIKey):
    model = PartnerAPIKey

    def has_permission(self, request: Request, view: Any) -> bool:
        # PartnerAPIKeyAuthentication has verified the key (hash, revocation, expiry) once;
        # checking it again here would hash it twice per request.
        return isinstance(request.auth, PartnerAPIKey)
