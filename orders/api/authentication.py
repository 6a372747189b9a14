"""Partners authenticate with `Authorization: Api-Key <prefix>.<secret>`.

Keys are djangorestframework-api-key keys (PartnerAPIKey): only the prefix and a hash are
stored. A missing, unknown, revoked or expired key gets 401; a key of a partner that has
been switched off gets 403."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from orders.api.models import Partner, PartnerAPIKey
from orders.api.selectors import api_key_for

KEYWORD = "Api-Key"


class PartnerPrincipal:
    """What `request.user` is for a partner: not a staff user, so it can never pass a Django
    permission check; the partner it acts for is `.partner`."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, partner: Partner, api_key: PartnerAPIKey):
        self.partner = partner
        self.api_key = api_key
        self.pk = partner.pk

    def __str__(self) -> str:
        return f"partner {self.partner.name}"

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False


class PartnerAPIKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[PartnerPrincipal, PartnerAPIKey] | None:
        header = get_authorization_header(request)
        if not header:
            return None  # the permission check then answers 401 "not_authenticated"
        try:
            keyword, _, key = header.decode("latin-1").partition(" ")
        except UnicodeError as exc:  # pragma: no cover - latin-1 decodes every byte
            raise exceptions.AuthenticationFailed("The Authorization header is malformed.") from exc
        key = key.strip()
        if keyword.lower() != KEYWORD.lower() or not key:
            raise exceptions.AuthenticationFailed(
                f'Send the key as "Authorization: {KEYWORD} <key>".', code="invalid_api_key"
            )
        api_key = api_key_for(key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "The API key is not valid.", code="invalid_api_key"
            )
        if api_key.revoked:
            raise exceptions.AuthenticationFailed(
                "This API key has been revoked.", code="api_key_revoked"
            )
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed(
                "This API key has expired.", code="api_key_expired"
            )
        if not api_key.partner.is_active:
            raise exceptions.PermissionDenied(
                "This partner account is switched off; please contact us.",
                code="partner_inactive",
            )
        return PartnerPrincipal(api_key.partner, api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'
