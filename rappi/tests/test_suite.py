"""The suite's own layout: no test module imports another test module or a conftest.py.
What several modules share lives in an app's tests/factories.py or tests/helpers.py, in
rappi/testing/, or, as fixtures, in a conftest.py, so each module can run on its own."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays in its package: `from .test_x import y` is `.tests.test_x`.
            module = node.module or ""
            if node.level:
                module = f"tests.{module}".rstrip(".")
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
    return found


def imports_of_test_modules(root: Path) -> list[str]:
    """`file: module` for each import, below `root`, of a test module or a conftest."""
    wrong = []
    for path in sorted(root.glob("**/tests/**/*.py")):
        if ".venv" in path.parts:
            continue
        for module in _imported_modules(path):
            last = module.rsplit(".", 1)[-1]
            if ".tests." in f".{module}." and (last.startswith("test_") or last == "conftest"):
                wrong.append(f"{path.relative_to(root)}: {module}")
    return wrong


def test_no_test_module_imports_another():
    assert imports_of_test_modules(ROOT) == []
