"""What the converter asks of the terminology, answered on the executors from a broadcast.

`bridge.mapping.convert` asks three questions, all through arguments, never over the
network (bridge/terminology/service.py `conversion_options`):

- `correspondence(code, unit)`: a 2021-style result gives a second value in another
  unit; which LOINC code does that value carry? The JDV Circuit de la biologie
  answers (ConceptMap target whose `target-unit` is that unit: glucose 40193-5 in g/L
  → 53049-3).
- `displays[(system, code)]`: the display of a code the document sent without
  displayName, from the value sets synchronised from the SMT.
- `labels(code)`: the JDV French label of an analysis whose document names it nowhere
  (`Observation.code.text`). The JDV alone answers it, as for `crbio convert`: a
  label is never a miss.

As Pathling does for terminology functions, the data the answers come from are
shipped to every executor once (`Terminology`, a Spark broadcast: the JDV index and
the synced displays, a few MB), so that each of the millions of questions is a
dictionary look-up. A question they cannot answer is a miss, a (system, code, unit)
triple (unit "" for a display), recorded per document (`Asking.misses`). The distinct
misses of the whole job, usually a few dozen codes, are what may go to the SMT
(bridge/spark/smt.py); their answers come back in `Terminology.answers` for the
documents that asked.

A code is a miss only when nothing here can answer it: the JDV's silence about a code
it lists is an answer (an analysis without correspondence in that unit, as
`$translate` says), and a code that is not LOINC-shaped is never asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bridge.mapping.codes import loinc_check_digit_ok
from bridge.terminology.conceptmap import (
    LOINC,
    JdvIndex,
    build_codesystem,
    build_conceptmap,
    ucum_code,
)
from bridge.terminology.jdv import merge_rows, seed_rows
from bridge.terminology.service import SEED_VERSION, TerminologyService

__all__ = ["Answer", "Asking", "Question", "Terminology"]

Question = tuple[str, str, str]  # (system, code, UCUM unit): unit "" asks for a display
Answer = dict[str, str] | str | None  # a correspondence's Coding, a display, or no answer


@dataclass(frozen=True, slots=True)
class Terminology:
    """The converter's terminology as plain data, small enough to broadcast."""

    jdv: JdvIndex
    displays: Mapping[tuple[str, str], str] = field(default_factory=dict)
    answers: Mapping[Question, Answer] = field(default_factory=dict)  # from the SMT

    @classmethod
    def seed(cls) -> Terminology:
        """The seed rows of the JDV (mappings/), what `crbio convert` uses by default."""
        rows, _ = merge_rows(seed_rows())
        return cls(
            JdvIndex(build_conceptmap(rows, SEED_VERSION), build_codesystem(rows, SEED_VERSION))
        )

    @classmethod
    def of(cls, service: TerminologyService) -> Terminology:
        """The current JDV and synced displays of a store (`--terminology`)."""
        return cls(service.jdv(), dict(service.displays()))

    def with_answers(self, answers: Mapping[Question, Answer]) -> Terminology:
        return replace(self, answers={**self.answers, **answers})

    def asking(self) -> Asking:
        return Asking(self)


class Asking:
    """One document's questions: answered from the broadcast, misses kept for the SMT."""

    def __init__(self, terminology: Terminology) -> None:
        self.terminology = terminology
        self.misses: set[Question] = set()

    def options(self) -> dict[str, Any]:
        """The keyword arguments of `bridge.mapping.convert`."""
        return {
            "correspondence": self.correspondence,
            "displays": _Displays(self),
            "labels": self.terminology.jdv.analysis_label,
        }

    def correspondence(self, code: str, unit: str) -> dict[str, str] | None:
        jdv = self.terminology.jdv
        coding = jdv.correspondence_coding(code, unit)
        if coding is not None or jdv.knows(code) or not loinc_check_digit_ok(code):
            return coding
        answer = self._answer((LOINC, code, ucum_code(unit)))
        return answer if isinstance(answer, dict) else None

    def display(self, system: str, code: str) -> str | None:
        found = self.terminology.displays.get((system, code))
        if found is not None or not system or not code:
            return found
        answer = self._answer((system, code, ""))
        return answer if isinstance(answer, str) else None

    def _answer(self, question: Question) -> Answer:
        answers = self.terminology.answers
        if question in answers:
            return answers[question]
        self.misses.add(question)
        return None


class _Displays(Mapping[tuple[str, str], str]):
    """The converter's `displays` argument, answering through `Asking.display`.

    Always true: the converter only asks a mapping that is (`if ctx.displays`), and
    every question must be seen to be recorded as a miss.
    """

    def __init__(self, asking: Asking) -> None:
        self._asking = asking

    def __bool__(self) -> bool:
        return True

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        found = self._asking.display(*key)
        return default if found is None else found

    def __getitem__(self, key: tuple[str, str]) -> str:
        found = self._asking.display(*key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._asking.terminology.displays)

    def __len__(self) -> int:
        return len(self._asking.terminology.displays)
