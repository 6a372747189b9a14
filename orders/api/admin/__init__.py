"""Partners, their API keys and webhooks in the staff console. Managers manage them; Customer
service may look and resend webhooks (orders/permissions.py). Creating a partner or a key goes
through the services, and so does changing them: the forms ask the services' validation
first, so a refusal is a form error, and a refusal that only shows under the lock (someone
else got there first) is an error message with nothing saved. A new key is shown once, in a
message, and never again."""

from django.contrib import admin
from rest_framework_api_key.models import APIKey

from orders.api.admin import partners, webhooks

# Keys that belong to no partner cannot call the API: keep the library's bare model out of
# the console so nobody makes one by mistake.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

__all__ = ["partners", "webhooks"]
