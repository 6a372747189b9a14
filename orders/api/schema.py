"""How the OpenAPI schema (drf-spectacular) describes partner authentication. Imported by the
app's ready(), which registers the extension."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PartnerAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "orders.api.authentication.PartnerAPIKeyAuthentication"
    name = "PartnerApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Your API key, prefixed: "Authorization: Api-Key <key>".',
        }
