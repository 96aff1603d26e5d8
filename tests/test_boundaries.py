"""Package boundaries, read from the source (nothing is imported, so the test takes a second).

1. Every package under suite/ names its public face in ``__all__`` (in its ``__init__.py``).
2. A capability (a top-level package ``suite.X``) imports another (``suite.Y``) only through that
   face: ``from suite.Y import name`` with ``name`` in ``suite.Y.__all__``; never ``suite.Y.module``.
   Within a capability anything goes. Top-level modules (``suite.errors``, ``suite.workers``) are
   faces themselves. Exceptions are in ``ALLOWED`` below, each with its reason.
3. Lower layers never import the layers above them (``LOWER_THAN``).

Run it before landing: ``python -m pytest tests/test_boundaries.py -q``. Each failure line names
the file, the line, the import, and the import to write instead.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suite"

# (importing module, imported module, reason); shell-style patterns on dotted names.
ALLOWED: list[tuple[str, str, str]] = [
    (
        "suite.db.models",
        "suite.*.tables",
        "Alembic needs every capability's tables in one metadata; tables are storage, not a face",
    ),
    (
        "suite.db.models",
        "suite.*.*.tables",
        "Alembic needs every capability's tables in one metadata; tables are storage, not a face",
    ),
    (
        "suite.cli",
        "suite.*.cli",
        "suite.X.cli is a capability's command-line face: `suite` mounts it; the library face stays free of typer",
    ),
]

# A capability on the left must not import, even through a face, any capability on the right.
LOWER_THAN: dict[str, tuple[str, str]] = {
    "suite.registry": ("suite.bastion suite.gateway suite.serving suite.web", "the registry lies below its users"),
    "suite.observability": ("suite.serving suite.gateway", "logging and the air gap lie below everything"),
    "suite.serving": ("suite.gateway suite.web", "the serving layer lies below the gateway"),
    "suite.config": ("suite.gateway suite.serving suite.auth suite.web", "settings lie below their users"),
    "suite.db": ("suite.gateway suite.serving suite.web", "the database layer lies below its users"),
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written."""

    path: Path
    line: int
    module: str  # the imported module, absolute
    names: tuple[str, ...]  # for `from M import a, b`; () for `import M`
    source: str


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _packages(root: Path) -> dict[str, Path]:
    return {_module_name(init, root): init for init in sorted((root / "suite").rglob("__init__.py"))}


def _modules(root: Path) -> list[Path]:
    return sorted((root / "suite").rglob("*.py"))


def _face(init: Path) -> set[str] | None:
    """The names in a package's ``__all__`` (a literal list or tuple of strings), or None without one."""
    for node in ast.parse(init.read_text(), filename=str(init)).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            if isinstance(value, ast.List | ast.Tuple):
                names = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if len(names) == len(value.elts):
                    return set(names)
            raise AssertionError(f"{init}: __all__ must be a literal list of strings")
    return None


def _imports(path: Path, root: Path) -> list[Import]:
    """Every import in a module (inside functions and TYPE_CHECKING blocks too), relative ones made absolute."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            source = lines[node.lineno - 1].strip()
            found += [Import(path, node.lineno, alias.name, (), source) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, target] if target else base)
            source = " ".join(line.strip() for line in lines[node.lineno - 1 : node.end_lineno])
            found.append(Import(path, node.lineno, target, tuple(a.name for a in node.names), source))
    return sorted(found, key=lambda i: i.line)


def _capability(module: str) -> str:
    """suite.gateway.openai.router -> suite.gateway; suite.cli -> suite.cli; suite -> suite."""
    return ".".join(module.split(".")[:2])


def _allowed(importer: str, imported: str) -> bool:
    return any(fnmatch.fnmatchcase(importer, a) and fnmatch.fnmatchcase(imported, b) for a, b, _ in ALLOWED)


def _where(item: Import, root: Path) -> str:
    return f"{item.path.relative_to(root)}:{item.line}: `{item.source}`"


def face_problems(root: Path) -> list[str]:
    """Packages without ``__all__``."""
    return [
        f"{init.relative_to(root)}: no __all__; name the package's public face in it (a literal list of names)"
        for init in _packages(root).values()
        if _face(init) is None
    ]


def boundary_problems(root: Path) -> list[str]:
    """Imports across capabilities that skip the face, or import a name the face does not export."""
    packages = _packages(root)
    faces = {name: _face(init) or set() for name, init in packages.items()}
    problems: list[str] = []
    for path in _modules(root):
        importer = _module_name(path, root)
        for item in _imports(path, root):
            face = _capability(item.module)
            if not item.module.startswith("suite.") or face == _capability(importer):
                continue
            if _allowed(importer, item.module) or face not in packages:
                continue  # a top-level module (suite.errors, suite.workers) is its own face
            init = packages[face].relative_to(root)
            missing = sorted(set(item.names) - faces[face])
            export = f" (first export {', '.join(missing)} from {init}: import it there, add it to __all__)"
            if item.module != face:
                names = ", ".join(item.names) if item.names else "..."
                problems.append(
                    f"{_where(item, root)} skips the face of {face}: write `from {face} import {names}`"
                    + (export if missing else "")
                )
            elif missing:
                problems.append(f"{_where(item, root)}: {', '.join(missing)} not in {face}.__all__{export}")
    return problems


def layer_problems(root: Path) -> list[str]:
    """Imports from a lower layer up into one above it."""
    problems = []
    for path in _modules(root):
        home = _capability(_module_name(path, root))
        if home not in LOWER_THAN:
            continue
        above, reason = LOWER_THAN[home]
        for item in _imports(path, root):
            imported = _capability(item.module)
            if imported in above.split() and not _allowed(_module_name(path, root), item.module):
                problems.append(
                    f"{_where(item, root)}: {home} must not import {imported} ({reason}); "
                    f"move what it needs into {home} or a package below both"
                )
    return problems


@pytest.mark.parametrize("check", [face_problems, boundary_problems, layer_problems], ids=lambda f: f.__name__)
def test_package_boundaries(check: Callable[[Path], list[str]]) -> None:
    problems = check(ROOT)
    assert not problems, f"{len(problems)} boundary problem(s):\n" + "\n".join(problems)


def test_the_checks_name_each_violation_and_its_fix(tmp_path: Path) -> None:
    files = {
        "suite/__init__.py": '__all__ = ["__version__"]\n__version__ = "0"\n',
        "suite/errors.py": "class Oops(Exception): ...\n",
        "suite/registry/__init__.py": 'from suite.registry.impl import f\n__all__ = ["f"]\n',
        "suite/registry/impl.py": "from suite.bastion import g\n\ndef f() -> None: ...\ndef h() -> None: ...\n",
        "suite/bastion/__init__.py": "from suite.bastion.impl import g\n",
        "suite/bastion/impl.py": (
            "from suite.errors import Oops\n"
            "from suite.registry import f\n"
            "from suite.registry.impl import h\n"
            "import suite.registry.impl\n"
            "from suite.registry import h as _h\n"
            "from . import impl\n"
            "def g() -> None:\n"
            "    from .. import registry  # the package suite.registry: its face\n"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    assert face_problems(tmp_path) == [
        "suite/bastion/__init__.py: no __all__; name the package's public face in it (a literal list of names)"
    ]
    assert boundary_problems(tmp_path) == [
        "suite/bastion/impl.py:3: `from suite.registry.impl import h` skips the face of suite.registry: write "
        "`from suite.registry import h` (first export h from suite/registry/__init__.py: import it there, add it to "
        "__all__)",
        "suite/bastion/impl.py:4: `import suite.registry.impl` skips the face of suite.registry: write "
        "`from suite.registry import ...`",
        "suite/bastion/impl.py:5: `from suite.registry import h as _h`: h not in suite.registry.__all__ (first export "
        "h from suite/registry/__init__.py: import it there, add it to __all__)",
        "suite/registry/impl.py:1: `from suite.bastion import g`: g not in suite.bastion.__all__ (first export g from "
        "suite/bastion/__init__.py: import it there, add it to __all__)",
    ]
    assert layer_problems(tmp_path) == [
        "suite/registry/impl.py:1: `from suite.bastion import g`: suite.registry must not import suite.bastion (the "
        "registry lies below its users); move what it needs into suite.registry or a package below both"
    ]
