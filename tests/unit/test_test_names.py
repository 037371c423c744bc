"""pytest imports test modules by their base name (the test folders are not packages): two test files of the same
name in different folders stop the whole run at collection ("import file mismatch")."""

from __future__ import annotations

from collections import Counter

from tests.support import ROOT


def test_every_test_module_has_a_name_of_its_own():
    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
