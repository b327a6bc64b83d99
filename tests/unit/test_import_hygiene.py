"""The core imports without Textual: only workbench.app and screens may need it."""

import pkgutil
import subprocess
import sys

import workbench


def test_core_imports_without_textual():
    modules = [m.name for m in pkgutil.walk_packages(workbench.__path__, "workbench.")
               if m.name not in ("workbench.app", "workbench.__main__")]
    assert "workbench.checks.limits" in modules and "workbench.image.session" in modules
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'textual' or name.startswith('textual.'):\n"
            "            raise ImportError('textual is blocked in this test')\n"
            "sys.meta_path.insert(0, Block())\n"
            f"for m in {modules!r}:\n"
            "    __import__(m)\n"
            "assert not any(k.startswith('textual') for k in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
