"""`.env.example` lists every environment variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READS = re.compile(
    r"""(?:environ\.get|getenv|environ\[|EnvVar(?:\.int)?|env_or|env_int_or|env_setting|setdefault)\(?\s*
    ["']([A-Z][A-Z0-9_]+)["']""",
    re.VERBOSE,
)
ENV_OPTION = re.compile(r"""["']env:([A-Z][A-Z0-9_]+)["']""")
# Placeholders in docstrings ("env:NAME"), not variables.
NOT_CONFIG = {"NAME"}


def variables_read_by_code() -> set[str]:
    names: set[str] = set()
    for folder in ("dag", "io", "contracts"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names |= set(READS.findall(text)) | set(ENV_OPTION.findall(text))
    return names - NOT_CONFIG


def variables_documented() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_env_example_lists_every_variable_the_code_reads() -> None:
    missing = variables_read_by_code() - variables_documented()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_holds_no_secret_values() -> None:
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if re.search(r"PASSWORD|TOKEN|SECRET|API_KEY", name):
            assert value == "", f".env.example gives {name} a value"
