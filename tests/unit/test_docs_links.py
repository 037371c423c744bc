"""The docs are self-contained: every relative link resolves to a file of the repository (and its #anchor to a
heading there), and nothing cites files outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
FENCED = re.compile(r"^(`{3,}).*?^\1\s*$", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.MULTILINE)
# What the repository used to cite outside itself (the shared folder beside it, the planning issue numbers).
OUTSIDE = [
    re.compile(r"\.\./shared/"),
    re.compile(r"(?<![\w/])reference/(http-api|aircall-messaging-api)\.md"),
    re.compile(r"(?<![\w/.])DESIGN\.md"),
    re.compile(r"\bissue( \d+\b|:)"),
]


def markdown_files() -> list[Path]:
    tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    on_disk = {ROOT / name for name in tracked.stdout.split()} | set((ROOT / "docs").glob("*.md"))
    return sorted(path for path in on_disk | {ROOT / "README.md", ROOT / "bench" / "README.md"} if path.exists())


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCED.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for match in HEADING.finditer(text):
        base = slug(match.group("title"))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(path: Path) -> list[str]:
    text = FENCED.sub("", path.read_text(encoding="utf-8"))
    return [match.group("target") for match in LINK.finditer(text)]


def test_the_slug_is_githubs():
    assert slug("Limits — `aircall_sms.domain.limits`") == "limits--aircall_smsdomainlimits"
    assert slug("Before the examples: `$API` and `$KEY`") == "before-the-examples-api-and-key"
    assert slug("3. Receiving: webhooks vs. proxy callbacks") == "3-receiving-webhooks-vs-proxy-callbacks"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_of_a_doc_resolves_inside_the_repository(path):
    broken = []
    for target in links(path):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_nothing_in_the_repository_cites_a_file_outside_it():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    names = set(tracked) | {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*")} | {"README.md"}
    this_file = Path(__file__).resolve().relative_to(ROOT).as_posix()
    found = []
    for name in sorted(names - {this_file}):
        path = ROOT / name
        if not path.is_file() or path.suffix not in {".md", ".py", ".yaml", ".toml", ".json", ".txt", ""}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            found += [f"{name}:{number}: {line.strip()}" for pattern in OUTSIDE if pattern.search(line)]
    assert not found, "\n".join(found)
