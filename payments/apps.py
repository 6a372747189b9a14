from django.apps import AppConfig
from django.core import checks


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from payments.checks import check_card_provider, check_card_provider_for_deploy

        checks.register(check_card_provider)
        checks.register(check_card_provider_for_deploy, deploy=True)
