"""`make fuzz`: mutated CR-BIO documents through `convert`, on every core.

    python -m tests.fuzzing [--inputs N] [--jobs J] [--seed S] [--validate-every K] [--out DIR]

Input i is made from `random.Random(f"{S}:{i}")`: a run is reproducible, and
`--only i` replays one input. Every input that crashes, converts to an invalid Bundle
or takes too long is saved in DIR (the input as `<kind>-<digest>.xml`, what happened
beside it as `.txt`). Prints the count of inputs, the refusals by error code, the
invalid outputs and the crashes by reason; exits with 1 when anything was found.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tests.fuzzing.mutations import Mutator
from tests.fuzzing.target import Outcome, run

HANG_SECONDS = 60  # an input still converting after this is a hang (the worker moves on)
CHUNK = 250


@dataclass
class Tally:
    inputs: int = 0
    validated: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    findings: Counter[tuple[str, str]] = field(default_factory=Counter)
    saved: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.inputs += other.inputs
        self.validated += other.validated
        self.kinds.update(other.kinds)
        self.refusals.update(other.refusals)
        self.findings.update(other.findings)
        self.saved += other.saved


_mutator: Mutator | None = None


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hang


def fuzz_chunk(seed: str, indices: range, validate_every: int, out: str) -> Tally:
    """Run inputs `indices` of the run `seed` (in a worker process)."""
    global _mutator
    if _mutator is None:
        _mutator = Mutator()
    signal.signal(signal.SIGALRM, _alarm)
    tally = Tally()
    for i in indices:
        mutant = _mutator.mutant(random.Random(f"{seed}:{i}"))
        validate = i % validate_every == 0
        signal.alarm(HANG_SECONDS)
        try:
            outcome = run(mutant.data, validate_models=validate)
        except _Hang:
            outcome = Outcome("slow", f"still converting after {HANG_SECONDS} s")
        finally:
            signal.alarm(0)
        tally.inputs += 1
        tally.validated += validate and outcome.kind == "converted"
        tally.kinds[outcome.kind] += 1
        if outcome.kind == "refused":
            tally.refusals[outcome.reason] += 1
        elif outcome.finding:
            tally.findings[(outcome.kind, outcome.reason)] += 1
            tally.saved.append(
                _save(Path(out), i, seed, mutant.seed, mutant.operators, mutant.data, outcome)
            )
    return tally


def _save(
    out: Path, i: int, seed: str, source: str, operators: list[str], data: bytes, outcome: Outcome
) -> str:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{outcome.kind}-{hashlib.sha1(data).hexdigest()[:12]}"
    (out / f"{stem}.xml").write_bytes(data)
    (out / f"{stem}.txt").write_text(
        f"input {i} of run {seed!r} (replay: python -m tests.fuzzing --seed {seed} --only {i})\n"
        f"from {source} by {', '.join(operators) or 'no operator'}\n"
        f"{outcome.kind}: {outcome.reason}\n\n{outcome.detail}\n",
        encoding="utf-8",
    )
    return stem


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", default="1")
    parser.add_argument("--validate-every", type=int, default=20, help="model-validate 1 in K")
    parser.add_argument("--out", type=Path, default=Path("out/fuzz"))
    parser.add_argument("--only", type=int, help="replay input ONLY of the run and show it")
    args = parser.parse_args()
    if args.only is not None:
        mutant = Mutator().mutant(random.Random(f"{args.seed}:{args.only}"))
        outcome = run(mutant.data, validate_models=True)
        print(
            f"from {mutant.seed} by {', '.join(mutant.operators)}: {outcome.kind} {outcome.reason}"
        )
        print(outcome.detail)
        sys.exit(1 if outcome.finding else 0)

    start = time.perf_counter()
    total = Tally()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(fuzz_chunk, args.seed, indices, args.validate_every, str(args.out))
            for indices in _chunks(args.inputs, CHUNK)
        ]
        for done, future in enumerate(as_completed(futures), 1):
            total.add(future.result())
            if done % 40 == 0:
                print(f"  {total.inputs:,} inputs, {len(total.saved)} finding(s)", flush=True)
    report(total, time.perf_counter() - start, args)
    sys.exit(1 if total.saved else 0)


def report(total: Tally, seconds: float, args: argparse.Namespace) -> None:
    print(f"fuzz: {total.inputs:,} inputs in {seconds:.0f} s", end=" ")
    print(f"({args.jobs} processes, seed {args.seed})")
    print(f"  converted  {total.kinds['converted']:>8,}", end="  ")
    print(f"({total.validated:,} validated against the R4B models)")
    print(f"  refused    {total.kinds['refused']:>8,}")
    for code, count in total.refusals.most_common():
        print(f"    {code:<22} {count:>8,}")
    for kind in ("invalid", "crash", "slow"):
        print(f"  {kind:<10} {total.kinds[kind]:>8,}")
        for (found, reason), count in total.findings.most_common():
            if found == kind:
                print(f"    {count:>6,}  {reason}")
    if total.saved:
        print(f"  {len(total.saved)} input(s) saved in {args.out}/")


if __name__ == "__main__":
    main()
