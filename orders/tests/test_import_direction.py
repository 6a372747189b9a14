"""The import direction follows the lifecycle (DESIGN.md): the orders core never imports a
later phase. It uses the warehouse's catalogue and stock service by design (pricing and
reserving stock are part of placing); payments, the partner API, returns and feedback join
only through the lifecycle interface. The interfaces that show every phase to a person
(orders/shop, orders/admin, orders/selectors for those pages) may import them."""

import ast
from pathlib import Path

ORDERS = Path(__file__).resolve().parents[1]
CORE = [
    "lifecycle.py",
    "events.py",
    "review.py",
    "outbox.py",
    "notifications.py",
    "tasks.py",
    "actors.py",
    "exceptions.py",
    *(f"services/{path.name}" for path in (ORDERS / "services").glob("*.py")),
    *(f"models/{path.name}" for path in (ORDERS / "models").glob("*.py")),
]
LATER_PHASES = ("payments", "orders.api", "returns", "feedback")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_orders_core_never_imports_a_later_phase():
    offending = {
        (module, name)
        for module in CORE
        for name in _imports(ORDERS / module)
        if name.startswith(LATER_PHASES)
    }
    assert offending == set()


def test_the_core_list_names_files_that_exist():
    assert all((ORDERS / module).exists() for module in CORE)
    assert len(CORE) > 15
