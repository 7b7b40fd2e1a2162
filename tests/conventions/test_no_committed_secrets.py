"""Source scan: no credential-like literal is committed anywhere in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATTERNS = {
    "secret-named variable assigned a literal": re.compile(
        r"""(?ix)\b[\w]*(password|passwd|secret|token|api_key|apikey)[\w]*\b
        \s*[:=]\s*["'](?!env:)[^"'\s]{3,}["']"""
    ),
    "URL with an embedded password": re.compile(r"\b\w+://[^/\s:@'\"]+:[^/\s@'\"{}$]+@"),
    "AWS access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "private key block": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
SCANNED_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".example", ".cfg", ".txt"}


def committed_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        ROOT / name
        for name in listed
        if (Path(name).suffix in SCANNED_SUFFIXES or name.endswith(".env.example"))
        and (ROOT / name).is_file()
    ]


ALLOW_MARKER = "secret-scan: deliberate"  # a fake credential a test needs, reviewed


def find_credentials(text: str) -> list[str]:
    hits = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if ALLOW_MARKER in line:
            continue
        for rule, pattern in PATTERNS.items():
            if pattern.search(line):
                hits.append(f"line {lineno}: {rule}: {line.strip()[:120]}")
    return hits


def test_no_credential_literals_in_repository() -> None:
    this_file = Path(__file__).resolve()
    findings = [
        f"{path.relative_to(ROOT)} {hit}"
        for path in committed_files()
        if path.resolve() != this_file
        for hit in find_credentials(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert findings == []


@pytest.mark.parametrize(
    "line",
    [
        'password = "hunter2"',
        "api_key: 'sk-live-abcdef'",
        "url = 'postgresql://admin:s3cret@db.example.com/app'",
        "AKIAABCDEFGHIJKLMNOP",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
)
def test_scanner_flags_credentials(line: str) -> None:
    assert find_credentials(line)


@pytest.mark.parametrize(
    "line",
    [
        'password=dg.EnvVar("NPS_POSTGRES_PASSWORD")',
        'auth_token=env_or("TURSO_AUTH_TOKEN", "")',
        '"AWS_SECRET_ACCESS_KEY": "env:AWS_SECRET_ACCESS_KEY"',
        "NPS_POSTGRES_PASSWORD=",
    ],
)
def test_scanner_accepts_env_bound_values(line: str) -> None:
    assert find_credentials(line) == []
