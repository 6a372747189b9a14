"""SMS, where set up (settings.SMS_BACKEND): "console" logs, "locmem" keeps messages in
`outbox` for tests; a provider backend is a dotted path to a class with `send(to, body)`."""

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str


outbox: list[SmsMessage] = []


class ConsoleBackend:
    def send(self, to: str, body: str) -> str:
        logger.info("sms", extra={"to": to, "body": body})
        return f"console-{uuid.uuid4().hex}"


class LocmemBackend:
    def send(self, to: str, body: str) -> str:
        outbox.append(SmsMessage(to=to, body=body))
        return f"locmem-{len(outbox)}"


_BACKENDS = {"console": ConsoleBackend, "locmem": LocmemBackend}


def sms_enabled() -> bool:
    return bool(settings.SMS_BACKEND)


def get_backend() -> ConsoleBackend | LocmemBackend:
    name = settings.SMS_BACKEND
    backend_class = _BACKENDS.get(name) or import_string(name)
    return backend_class()
