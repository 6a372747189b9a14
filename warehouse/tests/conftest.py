import pytest


@pytest.fixture(autouse=True)
def _orders_app_on_its_own(without_later_phases):
    """These unit tests exercise this app without the later phases' hooks."""
