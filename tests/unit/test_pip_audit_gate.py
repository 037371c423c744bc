"""The pip-audit gate's reading of a report: a known vulnerability fails, an unanswered package is a notice."""

from tools.pip_audit_gate import judge


def test_a_known_vulnerability_is_listed_with_its_advisory_and_fix():
    report = {
        "dependencies": [
            {"name": "httpx", "version": "0.28.1", "vulns": []},
            {
                "name": "h11",
                "version": "0.14.0",
                "vulns": [{"id": "GHSA-vqfr-h8mv-ghfj", "aliases": ["CVE-2025-43859"], "fix_versions": ["0.16.0"]}],
            },
        ]
    }
    vulnerabilities, unaudited, audited = judge(report)
    assert vulnerabilities == ["h11==0.14.0: GHSA-vqfr-h8mv-ghfj (CVE-2025-43859) - fixed in: 0.16.0"]
    assert (unaudited, audited) == ([], 2)


def test_a_vulnerability_without_a_fix_says_so():
    report = {"dependencies": [{"name": "x", "version": "1", "vulns": [{"id": "PYSEC-1", "fix_versions": []}]}]}
    assert judge(report)[0] == ["x==1: PYSEC-1 - fixed in: no fixed version yet"]


def test_packages_the_service_skipped_are_not_counted_as_audited():
    report = {
        "dependencies": [
            {"name": "pynamodb", "version": "6.1.0", "skip_reason": "Dependency not found on PyPI"},
            {"name": "pydantic", "version": "2.13.5", "vulns": []},
        ]
    }
    assert judge(report) == ([], ["pynamodb: Dependency not found on PyPI"], 1)
