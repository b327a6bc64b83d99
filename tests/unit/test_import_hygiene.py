"""The core imports without Textual: every workbench module, with no exemptions (the UI lives in screens/)."""

import pkgutil
import subprocess
import sys

import workbench


def test_core_imports_without_textual():
    modules = [m.name for m in pkgutil.walk_packages(workbench.__path__, "workbench.")]
    assert "workbench.checks.limits" in modules and "workbench.image.session" in modules
    assert "workbench.cli" in modules and "workbench.__main__" in modules
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name in ('textual', 'screens') or name.startswith(('textual.', 'screens.')):\n"
            "            raise ImportError(name + ' is blocked in this test')\n"
            "sys.meta_path.insert(0, Block())\n"
            f"for m in {modules!r}:\n"
            "    __import__(m)\n"
            "assert not any(k.startswith(('textual', 'screens')) for k in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_cli_reaches_the_ui_in_one_place():
    """Only cmd_tui imports screens, lazily; nothing in the core imports textual."""
    import pathlib

    root = pathlib.Path(workbench.__file__).parent
    hits = [(p.relative_to(root).as_posix(), n) for p in root.rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if line.strip().startswith(("import textual", "from textual", "import screens", "from screens"))]
    assert [h[0] for h in hits] == ["cli.py"], hits
