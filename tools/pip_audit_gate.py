"""`make security`'s pip-audit step: the layer's pinned requirements against the vulnerability service.

Runs `pip-audit -r layers/shared/requirements.txt --no-deps --disable-pip` (the file is the full pinned closure, so
nothing is resolved or installed) and judges its JSON report:

- any known vulnerability fails (exit 1), with the package, its version, the advisory and the fixed versions;
- packages the service did not answer for (not reachable, or a mirror that has no vulnerability data) are listed
  in a notice and do not fail: "where the registry answers";
- pip-audit failing to reach the service at all is a notice too; any other pip-audit failure fails.

Run with the interpreter of .venv-tools (`.venv-tools/bin/python tools/pip_audit_gate.py`), which has pip-audit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"
# What pip-audit says when the vulnerability service could not be reached at all (no network, no DNS, a TLS
# certificate it cannot verify, a timeout).
UNREACHABLE = ("ConnectionError", "ConnectTimeout", "ReadTimeout", "NameResolutionError", "SSLError", "ServiceError")


def judge(report: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """(one line per known vulnerability, one line per package not audited, number of packages audited)."""
    vulnerabilities: list[str] = []
    unaudited: list[str] = []
    audited = 0
    for dependency in report.get("dependencies", []):
        name = dependency.get("name", "?")
        if "skip_reason" in dependency:
            unaudited.append(f"{name}: {dependency['skip_reason']}")
            continue
        audited += 1
        for vulnerability in dependency.get("vulns", []):
            fixed = ", ".join(vulnerability.get("fix_versions", [])) or "no fixed version yet"
            aliases = ", ".join(vulnerability.get("aliases", []))
            vulnerabilities.append(
                f"{name}=={dependency.get('version', '?')}: {vulnerability.get('id', '?')}"
                + (f" ({aliases})" if aliases else "")
                + f" - fixed in: {fixed}"
            )
    return vulnerabilities, unaudited, audited


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pip-audit-") as temporary:
        output = Path(temporary) / "report.json"
        command = [sys.executable, "-m", "pip_audit", "-r", str(REQUIREMENTS), "--no-deps", "--disable-pip"]
        command += ["--progress-spinner", "off", "--format", "json", "--output", str(output), "--timeout", "15"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments # nosec B603
        if not output.exists():
            if any(marker in result.stderr for marker in UNREACHABLE):
                last = result.stderr.strip().splitlines()[-1:] or [""]
                print(f"pip-audit: NOTICE the vulnerability service could not be reached, nothing audited ({last[0]})")
                return 0
            print(result.stderr, file=sys.stderr)
            print(f"pip-audit: failed (exit {result.returncode})", file=sys.stderr)
            return 1
        report = json.loads(output.read_text())
    vulnerabilities, unaudited, audited = judge(report)
    total = audited + len(unaudited)
    if unaudited:
        print(f"pip-audit: NOTICE the vulnerability service did not answer for {len(unaudited)} of {total} packages:")
        for line in unaudited:
            print(f"  {line}")
    if vulnerabilities:
        print(f"pip-audit: {len(vulnerabilities)} known vulnerabilit{'y' if len(vulnerabilities) == 1 else 'ies'}:")
        for line in vulnerabilities:
            print(f"  {line}")
        print("  Raise the pin in layers/shared/requirements.txt to a fixed version (docs/development.md, 'Security').")
        return 1
    if audited:
        print(f"pip-audit: no known vulnerability in the {audited} audited package(s)")
    else:
        print("pip-audit: NOTICE nothing audited")
    return 0


if __name__ == "__main__":
    sys.exit(main())
