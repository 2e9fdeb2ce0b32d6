"""Schemathesis against the bridge's own OpenAPI document, on a live server on loopback.

    python -m tests.api.fuzz_api [--engines sqlite,postgresql] [--max-examples 100]
                                 [--seed N] [--auth open,api-key]

For each engine (and each way of authenticating: none configured, or an API key), the
bridge serves a store holding three example documents, and the schemathesis command
line runs every check (`--checks all`) over every operation, in every phase (examples,
coverage, fuzzing, stateful), configured by tests/api/schemathesis.toml. Prints the
cases generated and the failures per check; exits 1 on any failure.
`make test` runs it briefly (tests/api/test_openapi.py); `make fuzz-api` at length.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bridge.api.auth import hash_key
from bridge.settings import ApiKey, Settings
from tests.api.conftest import running_api
from tests.helpers import example_files
from tests.stores import open_test_store

CONFIG = Path(__file__).with_name("schemathesis.toml")
API_KEY = "fuzz-key-5b2f0c1e9a"


@dataclass
class Run:
    engine: str
    auth: str
    cases: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # "ST103 Undocumented…" → count
    output: str = ""

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def settings_for(auth: str) -> Settings:
    if auth == "api-key":
        key = ApiKey("fuzz", hash_key(API_KEY), frozenset({"read", "write"}))
        return Settings(offline=True, api_keys=(key,))
    return Settings(offline=True)


def fuzz(engine: str, auth: str, *, max_examples: int, seed: int) -> Run:
    """One schemathesis run against a fresh bridge on `engine`."""
    schemathesis = Path(sys.executable).with_name("schemathesis")
    run = Run(engine, auth)
    with tempfile.TemporaryDirectory() as workdir:
        report = Path(workdir) / "report.json"
        with open_test_store(engine, Path(workdir)) as store:
            with running_api(store, settings_for(auth)) as api:
                headers = {"Authorization": f"Bearer {API_KEY}"} if auth == "api-key" else {}
                for path in example_files()[:3]:
                    api.http.post(
                        "/$ingest",
                        content=path.read_bytes(),
                        headers={"Content-Type": "application/hl7-cda+xml"} | headers,
                    ).raise_for_status()
                command = [
                    str(schemathesis),
                    "--config-file",
                    str(CONFIG),
                    "run",
                    f"{api.url}/openapi.json",
                    "--checks",
                    "all",
                    "--max-examples",
                    str(max_examples),
                    "--seed",
                    str(seed),
                    "--workers",
                    "1",
                    "--continue-on-failure",
                    "--suppress-health-check",
                    "all",
                    "--request-timeout",
                    "60",
                    "--report",
                    "json",
                    "--report-json-path",
                    str(report),
                ]
                if headers:
                    command += ["--header", f"Authorization: Bearer {API_KEY}"]
                done = subprocess.run(
                    command, cwd=workdir, capture_output=True, text=True, check=False
                )
        run.output = done.stdout[-30_000:] + done.stderr[-5_000:]
        if not report.exists():
            run.failures["schemathesis did not finish"] = 1
            return run
        summary = json.loads(report.read_text(encoding="utf-8"))
        run.cases = int(summary["test_cases"]["generated"])
        for failure in summary["failures"]:
            run.failures[f"{failure['code']} {failure['title']}"] = int(failure["count"])
        if summary["errors"]:
            run.failures["errors"] = len(summary["errors"])
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--auth", default="open,api-key", help="open, api-key or both")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    runs = [
        fuzz(engine, auth, max_examples=args.max_examples, seed=args.seed)
        for engine in args.engines.split(",")
        for auth in args.auth.split(",")
    ]
    for run in runs:
        if run.failed:
            print(run.output)
    print(f"{'engine':<12}{'auth':<10}{'cases':>8}{'failures':>10}")
    for run in runs:
        print(f"{run.engine:<12}{run.auth:<10}{run.cases:>8}{run.failed:>10}")
        for name, count in sorted(run.failures.items()):
            print(f"    {count:>4}  {name}")
    return 1 if any(run.failed for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
