"""Payment services, one module per concern; every public name is re-exported here."""

from payments.services.operations import *  # noqa: F403
from payments.services.operations import _apply_refund  # noqa: F401
