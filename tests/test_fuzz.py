"""The fuzz target, short run: mutated CR-BIO documents give a valid Bundle or a refusal.

A fixed sample (derandomised, so that `make test` is reproducible) of the mutants that
`make fuzz` draws by the hundred thousand; see `tests/fuzzing`. Below it, the inputs the
fuzzer found, each kept as a small regression test.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.mapping import convert
from bridge.mapping.codes import CODE_ABSENT
from tests.builders import document, result
from tests.fuzzing.mutations import Mutator
from tests.fuzzing.target import run
from tests.helpers import resources_of, roundtrip, validate_bundle

EXAMPLES = int(os.environ.get("CRBIO_FUZZ_EXAMPLES", "1000"))
_mutator: Mutator | None = None


def mutator() -> Mutator:
    global _mutator
    if _mutator is None:
        _mutator = Mutator()
    return _mutator


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.randoms(use_true_random=False))
def test_mutated_documents_convert_to_valid_fhir_or_are_refused(rng: random.Random) -> None:
    mutant = mutator().mutant(rng)
    outcome = run(mutant.data, validate_models=rng.random() < 0.2)
    assert not outcome.finding, (
        f"{outcome.kind} from {mutant.seed} by {', '.join(mutant.operators)}: "
        f"{outcome.reason}\n{outcome.detail}"
    )


# Regressions -----------------------------------------------------------------------------


def report_effective(*times: str) -> dict[str, object]:
    """DiagnosticReport.effective[x] of a report whose results have these times."""
    conversion = convert(document(*(result(time=t) for t in times)))
    bundle = roundtrip(conversion)
    validate_bundle(bundle)
    [report] = resources_of(bundle, "DiagnosticReport")
    return {k: v for k, v in report.items() if k.startswith("effective")}


@pytest.mark.parametrize("last", ["9999", "999912", "99991231"])
def test_a_period_ending_in_year_9999_is_kept(last: str) -> None:
    effective = report_effective("20250312081500+0100", last)
    assert effective["effectivePeriod"]["end"].startswith("9999")  # type: ignore[index]


def test_a_leap_second_sorts_as_the_last_second_of_its_minute() -> None:
    effective = report_effective("20251231235960+0100", "20250312081500+0100")
    assert effective == {
        "effectivePeriod": {
            "start": "2025-03-12T08:15:00+01:00",
            "end": "2025-12-31T23:59:60+01:00",
        }
    }


def test_a_code_whose_only_text_is_the_value_is_absent_not_empty() -> None:
    """originalText naming the value is dropped from code.text: with nothing else left,
    the code is absent (with its issue), never an empty object."""
    code = "<code><originalText>5.30 mmol/L</originalText></code>"
    conversion = convert(document(result(code=code)))
    [observation] = resources_of(roundtrip(conversion), "Observation")
    assert observation["code"] == CODE_ABSENT
    assert "code-missing" in {issue.code for issue in conversion.issues}
