"""pyproject.toml's package list matches the packages on disk, and the checkout has the
installed layout (prodigy/compiler, prodigy/runtime, ... link to the top-level folders)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("compiler", "runtime", "grammar", "schemas")  # prodigy/<name> -> ../<name>


def declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def on_disk() -> set[str]:
    """Every directory holding an `__init__.py`, named as installed (`runtime/ops` is
    `prodigy.runtime.ops`)."""
    found: set[str] = set()
    for top in (*LINKED, "prodigy"):
        for init in (ROOT / top).rglob("__init__.py"):  # rglob does not enter the links
            parts = init.parent.relative_to(ROOT).parts
            found.add(".".join(parts if top == "prodigy" else ("prodigy", *parts)))
    return found


def test_every_package_on_disk_is_declared_and_every_declared_one_exists() -> None:
    packages, disk = declared(), on_disk()
    assert not disk - packages, f"missing from pyproject.toml's packages: {sorted(disk - packages)}"
    assert not packages - disk, f"declared but not on disk: {sorted(packages - disk)}"


def test_the_prodigy_package_links_to_the_top_level_folders() -> None:
    for name in LINKED:
        link = ROOT / "prodigy" / name
        assert link.is_symlink(), f"prodigy/{name} is not a symlink"
        assert os.readlink(link) == f"../{name}"
        assert (link / "__init__.py").is_file()
