"""ARCHITECTURE.md is the map of the package: every module of backprop_ninja is on it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_of_the_package_is_listed_in_the_architecture_map():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = [p.relative_to(ROOT).as_posix() for p in (ROOT / "backprop_ninja").rglob("*.py")
               if "stubs" not in p.relative_to(ROOT / "backprop_ninja").parts]
    missing = [m for m in sorted(modules) if f"`{m}`" not in text]
    assert not missing, f"ARCHITECTURE.md's table of modules lacks: {', '.join(missing)}"


def test_the_map_names_no_module_that_is_gone():
    import re

    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = re.findall(r"`(backprop_ninja/[\w/]+\.py)`", text)
    assert [m for m in named if not (ROOT / m).is_file()] == []
