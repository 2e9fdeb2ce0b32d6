"""deploy/: the compose file and the image run commands and endpoints that exist.

No container engine runs here: the compose file is read with PyYAML (and checked by
`docker compose config` when a Docker client is installed), the Dockerfile is parsed
line by line, and every command they give `crbio` is parsed by the command line
itself (typer's click commands), as the container would run it. The README's
operations section must name every BRIDGE_* variable the code reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from typing import Any

import pytest
import typer.main
import yaml

from bridge.api import create_app
from bridge.cli.main import app
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            found.append((instruction.upper(), arguments.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last:]


def exec_form(arguments: str) -> list[str]:
    """A Dockerfile exec-form (JSON array) argument; the shell form is not used here."""
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def check_crbio_command(args: list[str]) -> None:
    """Parse `crbio ARGS…` as the console script would, without running it."""
    command: Any = typer.main.get_command(app)
    name, rest = "crbio", list(args)
    while hasattr(command, "commands"):  # a group: the next word names a subcommand
        assert rest, f"crbio {' '.join(args)}: no subcommand"
        word = rest.pop(0)
        found = command.get_command(command.context_class(command), word)
        assert found is not None, f"crbio {' '.join(args)}: no command {word!r} in {name}"
        command, name = found, f"{name} {word}"
    command.make_context(name, rest)  # raises on an unknown option or a bad value


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


# The image ----------------------------------------------------------------------------


def test_the_entry_point_is_the_packages_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    (entrypoint,) = [exec_form(a) for name, a in final_stage() if name == "ENTRYPOINT"]
    assert entrypoint[0] in scripts and scripts[entrypoint[0]] == "bridge.cli.main:main"
    (cmd,) = [exec_form(a) for name, a in final_stage() if name == "CMD"]
    check_crbio_command(entrypoint[1:] + cmd)
    assert cmd[0] == "serve"
    port = option(cmd, "--port")
    assert port and f"EXPOSE {port}" in {f"{n} {a}" for n, a in final_stage()}
    (health,) = [a for name, a in final_stage() if name == "HEALTHCHECK"]
    assert f"http://127.0.0.1:{port}/readyz" in health


def test_the_image_is_slim_non_root_and_built_from_a_wheel() -> None:
    instructions = dockerfile()
    assert sum(name == "FROM" for name, _ in instructions) >= 2  # multi-stage
    final = final_stage()
    users = [a for name, a in final if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    runs = " ".join(a for name, a in final if name == "RUN")
    assert "--no-index" in runs and "--find-links" in runs  # the wheels of the first stage
    # no compiler or headers; the only system packages are printing's run-time libraries
    # and fonts (WeasyPrint), installed without recommends and without the apt lists
    assert not re.search(r"gcc|g\+\+|build-essential|-dev\b|apk add", runs)
    if "apt-get install" in runs:
        assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs
    assert "COPY --from=" in " ".join(f"{n} {a}" for n, a in final)
    assert not [a for name, a in final if name == "COPY" and "--from=" not in a]  # no sources


# The compose file ----------------------------------------------------------------------


def test_compose_services_commands_and_health_checks() -> None:
    services = compose()["services"]
    assert {"postgres", "bridge", "proxy", "forward"} <= set(services)
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown {needed}"
        assert "healthcheck" in service, f"{name} has no health check"
    bridge = services["bridge"]
    assert bridge["deploy"]["replicas"] == 2
    assert "ports" not in bridge  # reached through the proxy only
    assert bridge["environment"]["BRIDGE_DATABASE_URL"].startswith("postgresql://")
    assert bridge["environment"]["BRIDGE_DATABASE_URL"].endswith("@postgres:5432/crbio")
    assert (
        services["forward"]["environment"]["BRIDGE_DATABASE_URL"]
        == (bridge["environment"]["BRIDGE_DATABASE_URL"])
    )
    assert bridge["read_only"] and services["forward"]["read_only"]
    assert "postgres-data" in compose()["volumes"]
    routes = set(create_app().openapi()["paths"])
    for name in ("bridge", "forward"):
        service = services[name]
        port = option(service["command"], "--port")
        health = " ".join(service["healthcheck"]["test"])
        path = re.search(rf"http://127\.0\.0\.1:{port}(/\w+)", health)
        assert path, f"{name}: its health check asks another port than --port {port}"
        if name == "bridge":
            assert path.group(1) in routes
        assert path.group(1) in ("/readyz", "/healthz")
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert f"server bridge:{option(bridge['command'], '--port')}" in nginx


@pytest.mark.parametrize("service", ["bridge", "forward"])
def test_compose_commands_are_crbio_commands(service: str) -> None:
    check_crbio_command(compose()["services"][service]["command"])


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no Docker client here; the file is checked with PyYAML above")
    plugin = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if plugin.returncode != 0:
        pytest.skip("the Docker client has no compose plugin; checked with PyYAML above")
    result = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"BRIDGE_API_KEYS": "x:" + "0" * 64 + ":read", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr


# The README ---------------------------------------------------------------------------


def operations_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## Operations\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert found, "README.md has no '## Operations' section"
    return found.group(1)


def variables_read() -> set[str]:
    """The BRIDGE_* names the package reads: string literals naming a variable."""
    found = set()
    for path in (ROOT / "bridge").rglob("*.py"):
        found |= set(re.findall(r"""["'](BRIDGE_[A-Z0-9_]+)["']""", path.read_text("utf-8")))
    return found


def test_every_variable_the_code_reads_is_in_the_operations_section() -> None:
    variables = variables_read()
    assert {"BRIDGE_DATABASE_URL", "BRIDGE_OFFLINE", "BRIDGE_SMT_TOKEN_URL"} <= variables
    section = operations_section()
    missing = sorted(v for v in variables if not re.search(rf"`{v}`", section))
    assert not missing, f"not in the README's operations section: {', '.join(missing)}"
