"""The module map of docs/architecture.md, kept true by walking the code's syntax trees.

Rules (each test below checks one):

* imports point downward: every module has a rank in ``ORDER`` (and inside a package in
  ``PACKAGE_ORDER``) and may import only modules of a lower rank, so there is no import circle;
* code outside a package enters it through its face (``composer.harmony``, never
  ``composer.harmony.chords``);
* no module imports another module's ``_private`` name, or reaches into a private attribute of
  an object it did not define (``port._rt``);
* a function-level import is only for a heavy library, or a composer module that loads one:
  everything else is imported at the top, where a reader looks for it;
* no module is longer than 500 lines.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "composer"

#: Top-level units of ``composer``, lowest first.  A unit may import only units before it.
ORDER: tuple[tuple[str, ...], ...] = (
    ("version",), ("errors",), ("events",), ("keys",), ("config",), ("paths",), ("files",),  # base
    ("midifile",), ("recipes",), ("tokenizer",), ("voicegrid",), ("voicemotion",), ("codec",), ("model",),
    ("inference",), ("nll",), ("metrics",), ("checkpoint",), ("audio",),  # core
    ("corpus",), ("dataset",), ("train",), ("evaluate",), ("bundle",),  # the training stack
    ("harmony",), ("generation",), ("live",),  # feature packages
    ("cli",), ("__main__",), ("__init__",),
)

#: Inside each package, lowest first; modules in one tuple are peers and may not import each other.
PACKAGE_ORDER: dict[str, tuple[tuple[str, ...], ...]] = {
    "harmony": (("voiceleading",), ("piece",), ("slices",), ("keyfinding",), ("numerals",), ("pivots", "keymodel"),
                ("chords",), ("cadences",), ("figures",),
                ("analysis",), ("style",), ("notation",), ("romanxml",), ("plot",), ("__init__",)),
    "generation": (("primer",), ("grammar", "sonority", "odds", "gridtables", "stepper"), ("sampler", "gridstate"),
                   ("harmonizer",), ("setup",),
                   ("satb", "dynamics"), ("pieces",), ("record",), ("select",), ("api",), ("__init__",)),
    "live": (("ports", "synth"), ("timeline",), ("player",), ("clock",), ("jam",), ("sources",), ("session",),
             ("__init__",)),
    "cli": (("common",), ("options",), ("analyze_cmd", "corpus_cmd", "generate_cmd", "live_cmd", "render_cmd",
                                                    "train_cmd"),
            ("__init__",)),
}

#: Libraries slow enough to import that loading them lazily, inside a function, is worth it.
HEAVY = frozenset({"torch", "numpy", "music21", "miditok", "symusic", "mido", "rtmidi", "pretty_midi",
                   "matplotlib", "safetensors", "rich"})

#: Private attributes of library types that are their public API (namedtuple methods).
PUBLIC_UNDERSCORE = frozenset({"_replace", "_asdict", "_fields", "_make"})

MAX_LINES = 500


def _rank(order: tuple[tuple[str, ...], ...], name: str) -> int:
    for i, group in enumerate(order):
        if name in group:
            return i
    raise KeyError(name)


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen from the importing module."""

    target: str  # dotted module, e.g. "composer.harmony" or "torch"
    names: tuple[str, ...]  # names taken with ``from target import ...``
    line: int
    lazy: bool  # inside a function
    typing_only: bool  # under ``if TYPE_CHECKING:``


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        out[".".join(rel.parts)] = path
    return out


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(alias.name, (), child.lineno, lazy, typing_only))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - child.level + 1]
                    base = ".".join(parts + ([child.module] if child.module else []))
                names = tuple(a.name for a in child.names)
                found.append(Import(base, names, child.lineno, lazy, typing_only))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True, typing_only)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, lazy, True)
            else:
                visit(child, lazy, typing_only)

    visit(_tree(path), False, False)
    return found


def _unit(module: str) -> tuple[str, str | None]:
    """(top-level unit, submodule inside a package or None) of a composer module."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__", None
    if parts[1] in PACKAGE_ORDER:
        return parts[1], parts[2] if len(parts) > 2 else "__init__"
    return parts[1], None


def _resolve(target: str, names: tuple[str, ...], modules: dict[str, Path]) -> list[str]:
    """The composer modules an import loads (``from composer.harmony import chords`` is a module)."""
    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
    subs += [f"{target}.{n}.__init__" for n in names if f"{target}.{n}.__init__" in modules]
    if subs:
        return subs
    return [f"{target}.__init__" if f"{target}.__init__" in modules else target]


MODULES = _modules()


def _violations_order() -> list[str]:
    bad = []
    for module, path in MODULES.items():
        unit, sub = _unit(module)
        for imp in _imports(module, path):
            if not imp.target.startswith("composer"):
                continue
            for target in _resolve(imp.target, imp.names, MODULES):
                t_unit, t_sub = _unit(target)
                where = f"{module}:{imp.line} imports {target}"
                if t_unit == unit:
                    if sub is None or t_sub is None:
                        continue
                    order = PACKAGE_ORDER[unit]
                    if _rank(order, t_sub) >= _rank(order, sub) and t_sub != sub:
                        bad.append(f"{where} (not below it in {unit}/)")
                    continue
                if _rank(ORDER, t_unit) >= _rank(ORDER, unit) and not imp.typing_only:
                    bad.append(f"{where} (not below it)")
                if t_sub not in (None, "__init__"):
                    bad.append(f"{where} (past the face of composer.{t_unit})")
    return bad


def test_every_module_has_a_place_in_the_map() -> None:
    for module in MODULES:
        unit, sub = _unit(module)
        _rank(ORDER, unit)
        if sub is not None:
            _rank(PACKAGE_ORDER[unit], sub)


def test_imports_point_downward_through_faces() -> None:
    assert _violations_order() == []


def test_no_private_name_crosses_modules() -> None:
    bad = []
    for module, path in MODULES.items():
        for imp in _imports(module, path):
            if imp.target.startswith("composer"):
                bad += [f"{module}:{imp.line} imports {imp.target}.{n}" for n in imp.names
                        if n.startswith("_") and not n.startswith("__")]
                if any(part.startswith("_") and not part.startswith("__") for part in imp.target.split(".")):
                    bad.append(f"{module}:{imp.line} imports private module {imp.target}")
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr not in PUBLIC_UNDERSCORE
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                bad.append(f"{module}:{node.lineno} reads private attribute .{node.attr}")
    assert bad == []


@functools.cache
def _heavy(module: str) -> bool:
    """Whether importing this composer module loads a heavy library (at its top level)."""
    path = MODULES[module]
    for imp in _imports(module, path):
        if imp.lazy or imp.typing_only:
            continue
        if imp.target.split(".")[0] in HEAVY:
            return True
        if imp.target.startswith("composer"):
            for target in _resolve(imp.target, imp.names, MODULES):
                if target != module and target in MODULES and _heavy(target):
                    return True
    return False


def test_function_level_imports_only_for_heavy_modules() -> None:
    bad = []
    for module, path in MODULES.items():
        for imp in _imports(module, path):
            if not imp.lazy:
                continue
            top = imp.target.split(".")[0]
            if top in HEAVY:
                continue
            if top == "composer" and any(_heavy(t) for t in _resolve(imp.target, imp.names, MODULES)
                                         if t in MODULES):
                continue
            bad.append(f"{module}:{imp.line} imports {imp.target} inside a function")
    assert bad == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_short(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines (> {MAX_LINES}): split it"


def test_the_rules_can_fail(tmp_path: Path) -> None:
    """The walkers see what they must: a lazy stdlib import, a private import, an upward import."""
    src = tmp_path / "mod.py"
    src.write_text(
        "from composer.events import Note\n"
        "from composer.harmony import _label\n"
        "def f():\n    import json\n    from composer.harmony.chords import x\n    return port._rt\n"
    )
    imps = _imports("composer.keys", src)
    assert [(i.target, i.lazy) for i in imps] == [
        ("composer.events", False), ("composer.harmony", False), ("json", True), ("composer.harmony.chords", True)
    ]
    assert _unit("composer.harmony.chords") == ("harmony", "chords")
    assert _rank(ORDER, "harmony") > _rank(ORDER, "keys")  # so keys -> harmony is upward
    assert any(isinstance(n, ast.Attribute) and n.attr == "_rt" for n in ast.walk(ast.parse(src.read_text())))
