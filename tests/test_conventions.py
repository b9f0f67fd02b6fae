"""Project rules that code review alone would miss (STYLE.md)."""

import ast
import importlib
import inspect
import pkgutil
import textwrap

import pytest

# Apps whose writes go through services with a permission rule of the same name.
APPS_WITH_SERVICES = ["accounts", "catalog", "transactions", "insights"]


def _service_modules(app: str):
    """`<app>.services`, or when it is a package, each of its public submodules."""
    module = importlib.import_module(f"{app}.services")
    yield module
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{module.__name__}.{info.name}")


def public_service_functions(app: str):
    for module in _service_modules(app):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                yield name, fn


@pytest.mark.parametrize("app", APPS_WITH_SERVICES)
def test_every_service_has_its_permission_rule(app):
    permissions = importlib.import_module(f"{app}.permissions")
    missing = [
        name for name, _fn in public_service_functions(app) if not callable(getattr(permissions, name, None))
    ]
    assert missing == [], f"{app}.permissions lacks rules for: {missing}"


def uses_rule(fn, name: str) -> bool:
    """The function's code (not a comment or a string in it) reads `permissions.<name>`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == name
        and isinstance(node.value, ast.Name)
        and node.value.id == "permissions"
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize("app", APPS_WITH_SERVICES)
def test_every_service_checks_its_rule(app):
    """Each service's code names its rule (`permissions.<name>`), so the check is not skipped."""
    unchecked = [name for name, fn in public_service_functions(app) if not uses_rule(fn, name)]
    assert unchecked == []


def _mentions_its_rule_only_in_a_comment(*, actor):
    # authorize(permissions._mentions_its_rule_only_in_a_comment, actor)
    """permissions._mentions_its_rule_only_in_a_comment"""
    return actor


def _checks_its_rule(*, actor):
    authorize(permissions._checks_its_rule, actor)  # noqa: F821 - only parsed, never called


def test_a_rule_named_in_a_comment_or_string_does_not_count():
    assert not uses_rule(_mentions_its_rule_only_in_a_comment, "_mentions_its_rule_only_in_a_comment")
    assert uses_rule(_checks_its_rule, "_checks_its_rule")


@pytest.mark.parametrize("app", APPS_WITH_SERVICES)
def test_services_take_keyword_only_arguments(app):
    positional = [
        name
        for name, fn in public_service_functions(app)
        if any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in inspect.signature(fn).parameters.values()
        )
    ]
    assert positional == []


# Issue 12: a function a newcomer can read in one screen. Tests and generated migrations are
# exempt; everything else (apps, config, demo, bench) is held to it.
MAX_FUNCTION_LINES = 60
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def long_functions(root, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in {".venv", "tests", "var", "node_modules"} or "migrations" in parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_longer_than_sixty_lines():
    assert long_functions(ROOT) == []


def test_the_length_rule_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "long.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_long.py").write_text(f"def test_long():\n{body}\n")
    assert long_functions(tmp_path) == [f"app/long.py:5 long ({MAX_FUNCTION_LINES + 1} lines)"]
