#!/usr/bin/env python3
"""Check that the add-on image's Python dependencies install from wheels on amd64 and aarch64.

Usage: python tools/check_wheels.py [--arch aarch64] [--arch amd64] [--index-url URL]

The add-on image (addon/Dockerfile) installs with `--only-binary=:all:`: it has
no compiler, and building a package from source under QEMU would take hours.
This asks pip which files it would install for each architecture of the
add-on, without installing or building anything of this checkout:

    pip install --dry-run --report FILE --only-binary=:all:
        --platform manylinux_2_36_<arch> ... --platform manylinux2014_<arch>
        --implementation cp --python-version 3.11  <requirements>

The requirements are pyproject.toml's [project].dependencies plus the torch
pin of the Dockerfile (`ARG TORCH_VERSION`). Every package pip picks must be a
wheel whose tags fit CPython 3.11 on that architecture with the base image's
glibc.

What this proves and what it does not:

* Packages that publish only a source archive are listed in SDIST_ALLOWED with
  the reason each is acceptable. Each one is built here into a wheel, which
  must come out tagged `none-any` (pure Python, so it installs anywhere
  without a compiler); that wheel is then offered to the resolution.
* pip evaluates environment markers for the machine it runs on, not for
  --platform. So the dependency tree pip reports is walked again here with the
  target's marker values; a dependency the target needs but pip left out, or a
  version outside a requirement's range, fails the check.
* torch comes from PyPI here, whose Linux wheels are the CUDA build: the
  resolution therefore also lists CUDA packages (nvidia-*, triton, cuda-*)
  that the image, which installs torch from PyTorch's CPU index, never gets.
  The CPU build's other requirements are a subset of the CUDA build's.
* The resolution is a snapshot: a later release of a dependency may change it.

Fetching metadata only: the check needs each candidate's METADATA, not the
wheel (torch's CUDA build alone pulls about 3 GB of wheels). pip >= 25.3 no
longer downloads wheels in --dry-run once it has the metadata, which it reads
from the index (PEP 658) or, with fast-deps, from a few HTTP range requests
into the wheel. When the running pip is older, a current pip wheel is fetched
into a temporary folder and run from there (a wheel of pip runs as
`python pip-X.whl/pip`); nothing is installed.

pip's configuration files and PIP_* variables other than those in
KEPT_PIP_VARIABLES are ignored, so local wheel folders, extra indexes and
constraints of the machine do not stand in for the public index.

Exit status: 0 all wheels, 1 a check failed, 2 the index could not be reached.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
DOCKERFILE = ROOT / "addon" / "Dockerfile"

DEFAULT_INDEX = "https://pypi.org/simple"

PYTHON_FULL_VERSION = "3.11.2"
"""The python3 of Debian bookworm, the add-on's base image."""

GLIBC = (2, 36)
"""Debian bookworm's glibc: wheels tagged manylinux_2_17 ... manylinux_2_36 run on it."""

ARCHES = {"amd64": "x86_64", "aarch64": "aarch64"}
"""Home Assistant architecture names and the machine names in wheel tags and markers."""

SDIST_ALLOWED = {
    "docopt": (
        "num2words (misaki's English number words) requires docopt, which has only ever been "
        "published as a source archive; it is a single pure-Python module (only "
        "num2words' command-line tool uses it) and builds without a compiler. "
        "num2words 0.5.6, the last release without docopt, dates from 2017."
    ),
    "jieba": (
        "misaki's Mandarin G2P segments words with jieba, which is published only as a "
        "source archive; it is pure Python (its dictionary is a data file inside it) "
        "and builds without a compiler."
    ),
    "unidic-lite": (
        "misaki's Japanese G2P (fugashi) needs a UniDic dictionary; unidic-lite is the "
        "one that ships it inside the package (`unidic` downloads it after install). "
        "It is published only as a source archive of data files and builds into a "
        "pure-Python wheel without a compiler."
    ),
}
"""Packages without a wheel that the image may build, with the reason."""

KEPT_PIP_VARIABLES = {
    *("PIP_INDEX_URL", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_TRUSTED_HOST"),
    *("PIP_PROXY", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES"),
}
"""How to reach an index stays as configured; what to install from does not."""

PIP_WITH_METADATA_ONLY_DRY_RUN = Version("25.3")
"""First pip whose --dry-run does not download wheels after reading their metadata."""

CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
"""Packages only the CUDA build of torch requires."""


class IndexUnreachable(RuntimeError):
    """The package index could not be reached."""


@dataclass
class ArchResult:
    arch: str
    seconds: float
    wheels: dict[str, str] = field(default_factory=dict)
    """Canonical name -> wheel file name, for every package pip would install."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- what to check --------------------------------------------------------------


def torch_version(dockerfile: Path = DOCKERFILE) -> str:
    """The default of the Dockerfile's `ARG TORCH_VERSION=...`."""
    found = re.search(r"^ARG TORCH_VERSION=\"?([^\s\"]+)\"?$", dockerfile.read_text(), re.M)
    if found is None:
        raise SystemExit(f"{dockerfile}: no `ARG TORCH_VERSION=<version>` line")
    return found.group(1)


def requirements(pyproject: Path = PYPROJECT, dockerfile: Path = DOCKERFILE) -> list[str]:
    """The package's runtime dependencies plus the image's torch pin."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return [*project["dependencies"], f"torch=={torch_version(dockerfile)}"]


def manylinux_platforms(machine: str, glibc: tuple[int, int] = GLIBC) -> list[str]:
    """Every manylinux platform tag a system with this glibc accepts, newest first."""
    major, newest = glibc
    oldest = 5 if machine == "x86_64" else 17  # manylinux for aarch64 starts at glibc 2.17
    tags = [f"manylinux_{major}_{minor}_{machine}" for minor in range(newest, oldest - 1, -1)]
    # the legacy names of manylinux_2_17, _2_12 and _2_5
    aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags += [f"{name}_{machine}" for minor, name in aliases.items() if minor >= oldest]
    return tags


def supported_tags(machine: str) -> set[Tag]:
    python = tuple(int(part) for part in PYTHON_FULL_VERSION.split(".")[:2])
    platforms = manylinux_platforms(machine)
    abi = f"cp{python[0]}{python[1]}"
    return {
        *cpython_tags(python, abis=[abi], platforms=platforms),
        *compatible_tags(python, interpreter=abi, platforms=platforms),
    }


def marker_environment(machine: str) -> dict[str, str]:
    """Environment marker values of the image's Python on `machine`."""
    return {
        "implementation_name": "cpython",
        "implementation_version": PYTHON_FULL_VERSION,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": PYTHON_FULL_VERSION,
        "python_version": ".".join(PYTHON_FULL_VERSION.split(".")[:2]),
        "sys_platform": "linux",
    }


# --- running pip ------------------------------------------------------------------


def pip_environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PIP_") or name in KEPT_PIP_VARIABLES
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def run_pip(pip: list[str], args: list[str], timeout: float = 600) -> str:
    result = subprocess.run(
        [*pip, *args],
        env=pip_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args[:1])} failed:\n{result.stderr.strip()}")
    return result.stdout


def check_reachable(index_url: str) -> None:
    """Raise IndexUnreachable unless the index answers at all (any HTTP status will do)."""
    context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
    try:
        with urllib.request.urlopen(f"{index_url.rstrip('/')}/pip/", timeout=20, context=context):
            pass
    except urllib.error.HTTPError:
        pass
    except (urllib.error.URLError, OSError) as err:
        raise IndexUnreachable(f"{index_url}: {err}") from err


def running_pip_version() -> Version | None:
    try:
        return Version(importlib.metadata.version("pip"))
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return None


def metadata_only_pip(index_url: str, workdir: Path) -> list[str]:
    """A pip command whose --dry-run reads metadata without downloading wheels."""
    current = running_pip_version()
    if current is not None and current >= PIP_WITH_METADATA_ONLY_DRY_RUN:
        return [sys.executable, "-m", "pip"]
    folder = workdir / "pip"
    run_pip(
        [sys.executable, "-m", "pip"],
        [
            *("download", "--quiet", "--no-deps", "--only-binary=:all:"),
            *("--index-url", index_url, "--dest", str(folder)),
            f"pip>={PIP_WITH_METADATA_ONLY_DRY_RUN}",
        ],
    )
    (wheel,) = folder.glob("pip-*.whl")
    return [sys.executable, str(wheel / "pip")]


def build_allowed_sdists(pip: list[str], index_url: str, folder: Path) -> dict[str, str]:
    """Build each SDIST_ALLOWED package's newest release; {name: wheel file name}."""
    built = {}
    for name in SDIST_ALLOWED:
        run_pip(
            pip,
            [
                *("wheel", "--quiet", "--no-deps", f"--no-binary={name}"),
                *("--index-url", index_url, "--wheel-dir", str(folder), name),
            ],
        )
        (wheel,) = (
            path
            for path in folder.glob("*.whl")
            if canonicalize_name(parse_wheel_filename(path.name)[0]) == canonicalize_name(name)
        )
        tags = parse_wheel_filename(wheel.name)[3]
        if any(tag.abi != "none" or tag.platform != "any" for tag in tags):
            raise RuntimeError(
                f"{name} is in SDIST_ALLOWED but builds {wheel.name}, not pure Python"
            )
        built[canonicalize_name(name)] = wheel.name
    return built


def resolve(
    pip: list[str], arch: str, reqs: list[str], index_url: str, find_links: Path, report: Path
) -> dict:
    machine = ARCHES[arch]
    platforms = [f"--platform={platform}" for platform in manylinux_platforms(machine)]
    python = ".".join(PYTHON_FULL_VERSION.split(".")[:2])
    run_pip(
        pip,
        [
            *("install", "--dry-run", "--ignore-installed", "--quiet"),
            *("--report", str(report), "--only-binary=:all:"),
            *("--implementation=cp", f"--python-version={python}", *platforms),
            # reads METADATA with HTTP range requests where the index has no PEP 658 files
            "--use-feature=fast-deps",
            *("--index-url", index_url, "--find-links", str(find_links)),
            *reqs,
        ],
    )
    return json.loads(report.read_text())


# --- judging the resolution ---------------------------------------------------------


def judge(
    arch: str, reqs: Iterable[str], report: Mapping, built: Mapping[str, str], seconds: float
) -> ArchResult:
    machine = ARCHES[arch]
    tags = supported_tags(machine)
    result = ArchResult(arch, seconds)
    installs = {canonicalize_name(item["metadata"]["name"]): item for item in report["install"]}

    for name, item in sorted(installs.items()):
        url = item["download_info"]["url"]
        filename = url.rsplit("/", 1)[-1].split("#")[0]
        if not filename.endswith(".whl"):
            result.problems.append(f"{name}: not a wheel: {url}")
            continue
        wheel_tags = parse_wheel_filename(filename)[3]
        if not wheel_tags & tags:
            result.problems.append(f"{name}: {filename} does not fit CPython 3.11 on {machine}")
        result.wheels[name] = filename
        if url.startswith("file:") and built.get(name) != filename:
            result.problems.append(f"{name}: came from a local folder: {url}")

    for name in built:
        if name not in installs:
            result.problems.append(
                f"{name} is in SDIST_ALLOWED but nothing requires it any more: remove it"
            )
        else:
            result.notes.append(f"{name}: built from its source archive into {built[name]}")

    # Walk the tree again with the target's marker values.
    environment = marker_environment(machine)
    reached: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [
        (requirement, "the requirements")
        for requirement in map(Requirement, reqs)
        if requirement.marker is None or _marker_true(requirement.marker, environment, "")
    ]
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        item = installs.get(name)
        if item is None:
            result.problems.append(f"{name}: needed on {machine} ({wanted_by}) but not resolved")
            continue
        version = item["metadata"]["version"]
        if not requirement.specifier.contains(version, prereleases=True):
            result.problems.append(
                f"{name} {version} does not satisfy {requirement} ({wanted_by}) on {machine}"
            )
        reached.add(name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in item["metadata"].get("requires_dist") or []:
            child = Requirement(text)
            if child.marker is None or any(
                _marker_true(child.marker, environment, extra)
                for extra in ("", *requirement.extras)
            ):
                pending.append((child, f"{name} {version}"))

    for name in sorted(set(installs) - reached):
        result.notes.append(f"{name}: resolved for this machine's markers only, not needed")
    cuda = sorted(name for name in reached if CUDA_ONLY.match(name))
    if cuda:
        result.notes.append(
            f"{len(cuda)} packages only for PyPI's CUDA torch, not in the image: " + ", ".join(cuda)
        )
    return result


def _marker_true(marker: Marker, environment: Mapping[str, str], extra: str) -> bool:
    return marker.evaluate({**environment, "extra": extra})


# --- command line ----------------------------------------------------------------


def check(arches: Iterable[str], index_url: str = DEFAULT_INDEX) -> list[ArchResult]:
    arches = list(arches)
    check_reachable(index_url)
    reqs = requirements()
    with tempfile.TemporaryDirectory(prefix="check-wheels-") as tmp:
        workdir = Path(tmp)
        pip = metadata_only_pip(index_url, workdir)
        built_dir = workdir / "built"
        built = build_allowed_sdists(pip, index_url, built_dir)

        def one(arch: str) -> ArchResult:
            start = time.monotonic()
            report = resolve(pip, arch, reqs, index_url, built_dir, workdir / f"{arch}.json")
            return judge(arch, reqs, report, built, time.monotonic() - start)

        with ThreadPoolExecutor(max_workers=max(len(arches), 1)) as pool:
            return list(pool.map(one, arches))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--arch",
        action="append",
        choices=sorted(ARCHES),
        help="architecture to check (repeatable; default: both)",
    )
    parser.add_argument(
        "--index-url",
        default=os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX),
        help="package index to resolve against (default: $PIP_INDEX_URL or PyPI)",
    )
    parser.add_argument("--verbose", action="store_true", help="list every wheel")
    args = parser.parse_args(argv)
    arches = args.arch or ["aarch64", "amd64"]

    start = time.monotonic()
    try:
        results = check(arches, args.index_url)
    except IndexUnreachable as err:
        print(f"cannot reach the package index: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1

    failed = False
    for result in results:
        status = "FAIL" if result.problems else "ok"
        print(
            f"{result.arch}: {status}, {len(result.wheels)} wheels for CPython 3.11 "
            f"manylinux {ARCHES[result.arch]} ({result.seconds:.1f} s)"
        )
        for line in result.problems:
            print(f"  problem: {line}")
        for line in result.notes:
            print(f"  note: {line}")
        if args.verbose:
            for name, filename in sorted(result.wheels.items()):
                print(f"    {name}: {filename}")
        failed = failed or bool(result.problems)
    print(f"total {time.monotonic() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
