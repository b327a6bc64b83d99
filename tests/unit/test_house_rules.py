"""House rules the code is held to: small modules and functions, and every place a kind of change touches named
in ARCHITECTURE.md and present (a test fails where one is forgotten)."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# declarative tables, whose length is their content: the CLI's argument table and the sample image's files
DECLARATIVE = {("workbench/cli.py", "build_parser"), ("workbench/sample/centos.py", "root_tree")}


def _sources():
    for top in ("workbench", "screens"):
        yield from sorted((ROOT / top).rglob("*.py"))


def test_no_module_over_400_lines():
    big = [(p.relative_to(ROOT).as_posix(), n) for p in _sources() if (n := p.read_text().count("\n")) > MAX_MODULE_LINES]
    assert big == []


def test_no_function_over_80_lines_but_the_declarative_tables():
    long = []
    for p in _sources():
        rel = p.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (rel, node.name) not in DECLARATIVE:
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    long.append((rel, node.name, node.end_lineno - node.lineno + 1))
    assert long == []


def test_the_declarative_exceptions_still_exist():
    for rel, name in DECLARATIVE:
        tree = ast.parse((ROOT / rel).read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(tree)), (rel, name)


# -- every place a change touches -----------------------------------------------------------------------------
ARCH = (ROOT / "ARCHITECTURE.md").read_text()
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("place", ["workbench/flavors.py", "assets/parsers/net-NAME.sh", "tests/unit/test_parsers.py",
                                   "workbench/inits.py", "workbench/state.py", "workbench/checks/",
                                   "workbench/fixes/", "screens/app.py", "workbench/journey.py",
                                   "screens/palette.py", "tests/tui/test_snapshots.py", "workbench/changes.py",
                                   "workbench/image/pull.py", "workbench/commands.py", "workbench/verdict.py"])
def test_architecture_names_the_places(place):
    assert place in ARCH, f"ARCHITECTURE.md does not name {place}"


def test_every_flavour_has_its_script_golden_cases_and_readme_line():
    from workbench.flavors import FLAVORS

    goldens = (ROOT / "tests/unit/test_parsers.py").read_text()
    for name, record in FLAVORS.items():
        script = (ROOT / "assets/parsers" / f"net-{name}.sh").read_text()
        assert f"NET_BIND={record.bind}\n" in script, f"net-{name}.sh says another NET_BIND than its record"
        assert f"`{name}`" in README, f"the README does not name the {name} flavour"
    assert "list(FLAVORS)" in goldens  # the golden cases run over every record


def test_every_init_style_has_its_script_form_and_case():
    from workbench.inits import STYLES

    for style in STYLES.values():
        for part in ("header", "portal"):
            assert (ROOT / "assets/parsers" / f"{part}-{style.script}.sh").is_file()
        if style.interpreter:
            assert (ROOT / "assets/stubs" / style.interpreter).is_file()


def test_every_check_is_in_the_readme_and_every_fix_is_offered_by_a_check():
    from workbench.checks import all_checks
    from workbench.fixes import known_fixes

    checks = all_checks()
    assert [c.id for c in checks if f"`{c.id}`" not in README] == []
    sources = "".join(p.read_text() for p in (ROOT / "workbench/checks").glob("*.py"))
    assert [f for f in known_fixes() if f'"{f}"' not in sources] == []


def test_every_screen_has_its_style_snapshot_and_palette():
    from screens.app import SCREENS
    from workbench.journey import STEPS

    snapshots = (ROOT / "tests/tui/test_snapshots.py").read_text()
    palette = (ROOT / "screens/palette.py").read_text()
    for name, cls in SCREENS.items():
        assert f'action_show("{name}")' in palette, f"{name}: no command in screens/palette.py"
        module = pathlib.Path(__import__(cls.__module__, fromlist=["x"]).__file__)
        assert module.with_suffix(".tcss").is_file(), f"{name}: no .tcss beside {module.name}"
        assert f'"{name}"' in snapshots, f"{name}: no snapshot in tests/tui/test_snapshots.py"
    assert [k for k, _ in STEPS] == [k for k in SCREENS]  # each screen is a step of the journey, in order
