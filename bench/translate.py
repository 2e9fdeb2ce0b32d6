"""In-process $translate and unit conversion speed, against a bare dictionary floor.

    python bench/translate.py [--seconds S]

Measured in the same run:
- floor: a plain dict lookup of the same (system, code) keys;
- JDV index lookups (JdvIndex.translate), the path every local $translate takes;
- full $translate: parse the request, look up, build the FHIR Parameters answer;
- unit conversions with the parse cache warm: UCUM factor look-ups, and whole
  Observation conversions (value and reference range; JDV and UCUM paths).
Targets: ≥ 100 000 $translate look-ups per second.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.terminology import (  # noqa: E402
    SqliteTerminologyStore,
    TerminologyService,
    convert_observation,
    ucum_factor,
)
from bridge.terminology.conceptmap import LOINC  # noqa: E402
from bridge.terminology.operations import parse_translate, translate_parameters  # noqa: E402

UCUM = "http://unitsofmeasure.org"


def rate(work: Callable[[], int], seconds: float) -> float:
    """Operations per second: repeat `work` (which returns how many it did) for `seconds`."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += work()
    return done / elapsed


def observation(code: str, value: str, unit: str, low: str, high: str) -> dict:
    q = lambda v: {"value": Decimal(v), "unit": unit, "system": UCUM, "code": unit}  # noqa: E731
    return {
        "resourceType": "Observation",
        "id": "x",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/1"},
        "valueQuantity": q(value),
        "referenceRange": [{"low": q(low), "high": q(high)}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    seconds = parser.parse_args().seconds
    service = TerminologyService(SqliteTerminologyStore())
    index = service.jdv()
    codes = [c for c in index.concepts]
    keys = [(LOINC, c) for c in codes]
    plain = {k: index.translate(*k) for k in keys}
    requests = [parse_translate([("system", LOINC), ("code", c)]) for c in codes]

    def floor() -> int:
        for key in keys:
            plain.get(key)
        return len(keys)

    def lookups() -> int:
        for system, code in keys:
            index.translate(system, code)
        return len(keys)

    def full_translate() -> int:
        for request in requests:
            translate_parameters(service.translate_local(request) or [], r5=request.r5)
        return len(requests)

    pairs = [("g/L", "g/dL"), ("mmol/L", "umol/L"), ("G/L", "10*6/L"), ("mg/dL", "g/L")]

    def factors() -> int:
        for pair in pairs:
            ucum_factor(*pair)
        return len(pairs)

    samples = [
        (observation("53049-3", "0.95", "g/L", "0.63", "1.1"), "mmol/L"),
        (observation("718-7", "132", "g/L", "120", "165"), "g/dL"),
    ]

    def conversions() -> int:
        for obs, unit in samples:
            convert_observation(obs, index, to_unit=unit)
        return len(samples)

    for work in (lookups, full_translate, factors, conversions):  # warm every cache once
        work()
    base = rate(floor, seconds)
    print(f"JDV seed: {len(index)} correspondences over {len(codes)} analyses")
    print(f"dict lookup (floor)        {base:12,.0f} /s")
    for name, work in (
        ("JdvIndex.translate", lookups),
        ("$translate → Parameters", full_translate),
        ("UCUM factor (cached)", factors),
        ("Observation conversion", conversions),
    ):
        measured = rate(work, seconds)
        print(f"{name:26} {measured:12,.0f} /s   floor/measured {base / measured:7.1f}")


if __name__ == "__main__":
    main()
