import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_asgi_application()

# Settings are loaded and the apps ready: refuse to serve with the test gateway unbidden.
from payments.checks import refuse_to_start_with_the_test_gateway  # noqa: E402

refuse_to_start_with_the_test_gateway()
