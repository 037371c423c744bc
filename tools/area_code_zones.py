"""Write layers/shared/aircall_sms/domain/area_code_zones.py: every NANP area code and the IANA time zones its
numbers are in, from libphonenumber's time zone data (the `phonenumbers` package the layer pins). Run it after
upgrading `phonenumbers`: `python tools/area_code_zones.py`; a unit test says when the table and the data differ."""

from __future__ import annotations

from pathlib import Path

import phonenumbers.tzdata

TARGET = Path(__file__).resolve().parents[1] / "layers/shared/aircall_sms/domain/area_code_zones.py"


def table() -> dict[str, tuple[str, ...]]:
    """Area code (3 digits) -> its zones, from the data's 4-digit prefixes ("1" and the area code)."""
    data = phonenumbers.tzdata.TIMEZONE_DATA
    return {prefix[1:]: tuple(data[prefix]) for prefix in sorted(data) if prefix.startswith("1") and len(prefix) == 4}


def render(zones: dict[str, tuple[str, ...]]) -> str:
    lines = [
        '"""NANP area code -> the IANA time zones of its numbers (several when the area code spans zones), generated',
        'by tools/area_code_zones.py from libphonenumber\'s time zone data. Do not edit by hand."""',
        "",
        "from __future__ import annotations",
        "",
        "AREA_CODE_ZONES: dict[str, tuple[str, ...]] = {",
    ]
    lines += [f'    "{code}": ({", ".join(repr(zone) for zone in found)},),' for code, found in zones.items()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    TARGET.write_text(render(table()))
    print(f"{TARGET.name}: {len(table())} area codes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
