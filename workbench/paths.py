"""Where shipped data lives, for a wheel install and for a source checkout."""

from pathlib import Path


def assets_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "assets", here.parent / "assets"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("workbench assets are missing from this installation")
