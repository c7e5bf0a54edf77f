"""The package as a user gets it: sdist → wheel → a fresh venv, run from outside the checkout.

The rest of the suite runs against the editable checkout, which hides packaging bugs: a
subpackage missing from the wheel, package data left out, a dependency that only the test
extras happen to install. Here the sdist is built, the wheel is built from it, installed
with its declared dependencies (torch first, as the README says) into a new virtual
environment, and the installed `wyoming-kokoro` command must speak intelligibly through a
real client.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    ROOT,
    ServerProcess,
    check_audio_format,
    describe,
    server_args,
    synthesize,
    transcribe,
)

PACKAGE = ROOT / "wyoming_kokoro"
VERSION = importlib.metadata.version("wyoming-kokoro")


def source_packages() -> set[str]:
    """Every package folder of the source tree, as a path relative to the root."""
    return {str(init.parent.relative_to(ROOT)) for init in PACKAGE.rglob("__init__.py")}


def catalogues() -> set[str]:
    return {str(path.relative_to(ROOT)) for path in (PACKAGE / "voices").glob("*/voices.json")}


def clean_env() -> dict[str, str]:
    """This environment minus anything that would point Python back at the checkout."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if not part.startswith(sys.prefix)
    )
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from that sdist (so the sdist must be complete)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed the README's way: torch first, then the package."""
    path = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    python = str(path / "bin" / "python")
    torch = f"torch=={importlib.metadata.version('torch')}"
    for requirement in ([torch], [str(dists["wheel"])]):
        result = subprocess.run(
            [python, "-m", "pip", "install", "-q", "--no-compile", *requirement],
            capture_output=True,
            text=True,
            timeout=1200,
            env=clean_env(),
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return path


def run_installed(venv: Path, code: str, cwd: Path) -> str:
    """What Python code prints in the installed venv, run outside the checkout."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=120,
        check=True,
    )
    return result.stdout


def test_wheel_and_sdist_hold_every_package_and_catalogue(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = set(wheel.namelist())
    assert {f"{package}/__init__.py" for package in source_packages()} <= names
    assert catalogues() <= names
    with tarfile.open(dists["sdist"]) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md"} <= members
    assert {f"{package}/__init__.py" for package in source_packages()} <= members
    assert catalogues() <= members


def test_installed_package_is_the_wheel_not_the_checkout(venv: Path, tmp_path: Path) -> None:
    code = (
        "import importlib.metadata as m, wyoming_kokoro, wyoming_kokoro.models.g2p.misaki_g2p\n"
        "d = m.distribution('wyoming-kokoro')\n"
        "print(wyoming_kokoro.__file__)\n"
        "print(d.version, d.read_text('direct_url.json') or '')\n"
    )
    location, details = run_installed(venv, code, tmp_path).splitlines()[:2]
    assert Path(location).is_relative_to(venv) and not Path(location).is_relative_to(ROOT)
    assert details.startswith(VERSION) and '"editable": true' not in details


def test_installed_package_brings_neither_kokoro_nor_transformers(venv: Path, tmp_path) -> None:
    """The server defines the network itself; a user install must not carry the 110 MiB
    `transformers` import back in (kokoro needs it, and spaCy would import it through
    misaki[en]'s spacy-curated-transformers plugin)."""
    code = (
        "import importlib.util\n"
        "names = ('kokoro', 'transformers', 'spacy_curated_transformers', 'spacy', 'num2words')\n"
        "print(*(n for n in names if importlib.util.find_spec(n)))\n"
    )
    assert run_installed(venv, code, tmp_path).split() == ["spacy", "num2words"]


@pytest.fixture
def installed_server(venv: Path, weights_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """The installed console script, started in an empty folder far from the checkout."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    server = ServerProcess(
        server_args(weights_dir),
        command=[str(venv / "bin" / "wyoming-kokoro")],
        cwd=workdir,
        env=clean_env(),
    )
    server.start(tmp_path)
    yield server
    server.stop()


def test_installed_command_speaks_intelligibly(installed_server: ServerProcess, transcriber):
    info = asyncio.run(describe(installed_server.uri))
    (program,) = info.tts
    assert program.version == VERSION
    names = {voice.name for voice in program.voices if voice.installed}
    assert {"af_heart@v1.0", "af_bella@v0.19"} <= names
    for voice in ("af_heart@v1.0", "af_bella@v0.19"):
        reply = asyncio.run(synthesize(installed_server.uri, "Please open the garage door.", voice))
        assert reply.error is None, reply.error
        check_audio_format(reply)
        heard = transcribe(transcriber, reply.audio)
        assert "garage" in heard and "door" in heard, (voice, heard)
