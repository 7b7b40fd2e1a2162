"""Run mypy on the project: ``python scripts/typecheck.py [mypy arguments]``.

Without arguments mypy checks the packages listed in ``[tool.mypy]`` of pyproject.toml (the config
always applies); ``python scripts/typecheck.py -p dag`` checks another package. Plain ``mypy``
from the repository root does not work, for two reasons this script works around:

- the folder ``io/`` is the package ``dag_io`` (a setuptools ``package-dir`` mapping), which mypy
  cannot follow, and
- mypy always searches its working directory first, where the folder ``io/`` would shadow the
  standard library's ``io`` (and silently corrupt the standard library's types).

So mypy runs in ``build/typecheck`` (ignored by git), a folder of symlinks named as the packages
are imported: ``dag_io -> io``, ``contracts``, ``dag``. Reported paths are rewritten back to the
repository's (``dag_io/x.py`` -> ``io/x.py``). The exit status is mypy's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / "build" / "typecheck"
PACKAGES = {"dag_io": "io", "contracts": "contracts", "dag": "dag"}  # import name: folder
_IO_PATH = re.compile(r"^dag_io/", flags=re.MULTILINE)


def link_packages() -> None:
    """Create (or repair) ``build/typecheck/<import name> -> ../../<folder>``."""
    WORKDIR.mkdir(parents=True, exist_ok=True)
    for name, folder in PACKAGES.items():
        link = WORKDIR / name
        target = Path("..") / ".." / folder
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)


def main(argv: list[str]) -> int:
    link_packages()
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *argv]
    done = subprocess.run(command, cwd=WORKDIR, stdout=subprocess.PIPE, text=True, check=False)
    sys.stdout.write(_IO_PATH.sub("io/", done.stdout))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
