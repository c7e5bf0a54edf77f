"""Settings: one voluptuous schema validates the CLI, the environment and the options file.

Every setting is declared once, in `SCHEMA`: its name, type, allowed values and
default. The same schema checks values from all three places a setting can come
from, so a bad value reads the same wherever it was given, and the frozen
`Settings` dataclass takes its defaults from the schema rather than repeating them.

Precedence is CLI > environment (``WYOMING_KOKORO_<NAME>``) > options file
(``--config FILE``, JSON or YAML, e.g. the add-on's /data/options.json) > defaults.
A source replaces a value as a whole: ``--data-dir`` on the command line replaces
the folders listed in the environment or the options file; it does not add to them.

The validators take strings as well as typed values because the environment and
the command line only ever hold strings; they never raise anything but
`voluptuous.Invalid` with a message naming what is allowed, which `load_settings`
turns into a one-line `ConfigError` naming the option as the user spelled it.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol

from .errors import ConfigError

VERSIONS = ("v1.0", "v0.19")
"""The Kokoro generations this server runs, as written in settings and voice names."""

DEVICES = ("auto", "cpu", "cuda")

ENV_PREFIX = "WYOMING_KOKORO_"

ZEROCONF_DEFAULT_NAME = ""
"""`Settings.zeroconf` value meaning "advertise under the default service name"."""

_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})

Validator = Callable[[Any], Any]


def _show(value: Any) -> str:
    """A value as the user would recognise it in an error message, kept short."""
    text = str(value) if isinstance(value, Path) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- value validators -------------------------------------------------------------
# Each returns a function that normalises a value or raises vol.Invalid whose
# message says what was wrong and what is allowed (the option name is added later).


def _boolean() -> Validator:
    expected = "expected true or false (also yes/no, on/off, 1/0)"

    def check(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        raise vol.Invalid(f"{_show(value)} is not a boolean; {expected}")

    return check


def _number(low: float, high: float) -> Validator:
    expected = f"expected a number from {low} to {high}"

    def check(value: Any) -> float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            raise vol.Invalid(f"{_show(value)} is not a number; {expected}")
        if not low <= number <= high:
            raise vol.Invalid(f"{number!r} is out of range; {expected}")
        return number

    return check


def _whole_number(low: int, high: int) -> Validator:
    expected = f"expected a whole number from {low} to {high}"

    def check(value: Any) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value)
        ):
            number = int(value)
        if number is None:
            raise vol.Invalid(f"{_show(value)} is not a whole number; {expected}")
        if not low <= number <= high:
            raise vol.Invalid(f"{number!r} is out of range; {expected}")
        return number

    return check


def _choice(allowed: Iterable[str], fold_case: bool = False) -> Validator:
    allowed = tuple(allowed)

    def check(value: Any) -> str:
        if isinstance(value, str):
            word = value.strip()
            if fold_case:
                word = word.lower()
            if word in allowed:
                return word
        raise vol.Invalid(f"{_show(value)} is not one of {', '.join(allowed)}")

    return check


def _text(pattern: str, what: str, expected: str, max_length: int = 255) -> Validator:
    """A string that must match `pattern` as a whole (after trimming spaces)."""
    regex = re.compile(pattern)

    def check(value: Any) -> str:
        if isinstance(value, str):
            text = value.strip()
            if len(text) <= max_length and regex.fullmatch(text) and ".." not in text:
                return text
        raise vol.Invalid(f"{_show(value)} is not {what}; {expected}")

    return check


def _optional(inner: Validator) -> Validator:
    """None or an empty string means "not set"; anything else goes to `inner`."""

    def check(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return inner(value)

    return check


def _path() -> Validator:
    def check(value: Any) -> Path:
        if isinstance(value, (str, os.PathLike)):
            text = os.fspath(value)
            if isinstance(text, str) and text.strip() and "\0" not in text:
                return Path(os.path.expanduser(text.strip()))
        raise vol.Invalid(f"{_show(value)} is not a path; expected a file or folder path")

    return check


def _paths() -> Validator:
    """One path or a list of them, searched in order; never empty."""
    one_path = _path()

    def check(value: Any) -> tuple[Path, ...]:
        items = [value] if isinstance(value, (str, os.PathLike)) else value
        if isinstance(items, (list, tuple)) and items:
            try:
                return tuple(one_path(item) for item in items)
            except vol.Invalid as err:
                raise vol.Invalid(f"{err.error_message} (in {_show(value)})") from None
        raise vol.Invalid(f"{_show(value)} is not a list of folders; expected at least one folder")

    return check


def _uri() -> Validator:
    expected = "expected tcp://HOST:PORT (port 1 to 65535), unix:///path/to/socket or stdio://"

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise vol.Invalid(f"{_show(value)} is not a server URI; {expected}")
        text = value.strip()
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise vol.Invalid(f"{_show(value)} is not a valid server URI; {expected}") from None
        valid = False
        if parts.scheme == "tcp":
            valid = (
                bool(parts.hostname)
                and port is not None
                and 1 <= port <= 65535
                and parts.path in ("", "/")
                and not parts.query
                and not parts.fragment
            )
        elif parts.scheme == "unix":
            valid = not parts.netloc and bool(parts.path) and not parts.query
        elif parts.scheme == "stdio":
            valid = text == "stdio://"
        if not valid:
            raise vol.Invalid(f"{_show(value)} is not a valid server URI; {expected}")
        return text

    return check


def _hub_url() -> Validator:
    expected = "expected an http:// or https:// URL such as https://huggingface.co"

    def check(value: Any) -> str:
        if isinstance(value, str):
            text = value.strip()
            try:
                parts = urlsplit(text)
                _port = parts.port
            except ValueError:
                parts = None
            if (
                parts is not None
                and parts.scheme in ("http", "https")
                and parts.hostname
                and not parts.query
                and not parts.fragment
                and not any(char.isspace() for char in text)
            ):
                return text.rstrip("/")
        raise vol.Invalid(f"{_show(value)} is not a hub URL; {expected}")

    return check


def _zeroconf_name() -> Validator:
    """False/None: off; True or "": the default name; else a DNS-SD instance name."""
    expected = "expected 1 to 63 characters (bytes in UTF-8) without dots"

    def check(value: Any) -> str | None:
        if value is None or value is False:
            return None
        if value is True:
            return ZEROCONF_DEFAULT_NAME
        if isinstance(value, str):
            name = value.strip()
            if not name:
                return ZEROCONF_DEFAULT_NAME
            if (
                len(name.encode("utf-8")) <= 63
                and "." not in name
                and all(char.isprintable() for char in name)
            ):
                return name
        raise vol.Invalid(f"{_show(value)} is not a service name; {expected}")

    return check


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _host() -> Validator:
    expected = "expected an IP address or host name to advertise"

    def check(value: Any) -> str:
        if isinstance(value, str):
            text = value.strip()
            try:
                return str(ipaddress.ip_address(text))
            except ValueError:
                pass
            labels = text.rstrip(".").split(".")
            if len(text) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels):
                return text
        raise vol.Invalid(f"{_show(value)} is not an IP address or host name; {expected}")

    return check


def _log_format() -> Validator:
    """A %-style logging format that formats a record without error."""
    expected = "expected a logging format such as '%(levelname)s %(name)s: %(message)s'"

    def check(value: Any) -> str:
        if isinstance(value, str) and value.strip():
            try:
                formatter = logging.Formatter(value, validate=True)
                record = logging.LogRecord(
                    "wyoming_kokoro", logging.INFO, __file__, 1, "x", (), None
                )
                formatter.format(record)
            except (ValueError, KeyError, TypeError):
                pass
            else:
                return value
        raise vol.Invalid(f"{_show(value)} is not a usable log format; {expected}")

    return check


_VERSION_PATTERN = "|".join(re.escape(version) for version in VERSIONS)

# --- the schema -------------------------------------------------------------------

SCHEMA = vol.Schema(
    {
        vol.Optional("uri", default="tcp://0.0.0.0:10200"): _uri(),
        vol.Optional("data_dirs", default=("~/.local/share/wyoming-kokoro",)): _paths(),
        vol.Optional("download_dir", default=None): _optional(_path()),
        vol.Optional("voice", default="af_heart"): _text(
            rf"[A-Za-z0-9][A-Za-z0-9_-]*(@({_VERSION_PATTERN}))?",
            "a voice name",
            f"expected NAME or NAME@VERSION with VERSION one of {', '.join(VERSIONS)}, "
            "e.g. af_heart or af_bella@v0.19",
            max_length=100,
        ),
        vol.Optional("default_version", default="v1.0"): _choice(VERSIONS),
        vol.Optional("device", default="auto"): _choice(DEVICES, fold_case=True),
        vol.Optional("speed", default=1.0): _number(0.5, 2.0),
        vol.Optional("samples_per_chunk", default=1024): _whole_number(64, 48000),
        vol.Optional("streaming", default=True): _boolean(),
        vol.Optional("max_loaded_models", default=2): _whole_number(1, 2),
        vol.Optional("max_text_length", default=10000): _whole_number(1, 100000),
        vol.Optional("first_clause_chars", default=60): _whole_number(0, 400),
        vol.Optional("hub_url", default="https://huggingface.co"): _hub_url(),
        vol.Optional("v1_repo", default="hexgrad/Kokoro-82M"): _text(
            r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*",
            "a repository id",
            "expected OWNER/NAME such as hexgrad/Kokoro-82M",
            max_length=200,
        ),
        vol.Optional("v1_revision", default="main"): _text(
            r"[A-Za-z0-9._][A-Za-z0-9._/-]*(?<!/)",
            "a revision",
            "expected a branch, tag or commit hash such as main",
        ),
        vol.Optional("v019_repo", default="hexgrad/kLegacy"): _text(
            r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*",
            "a repository id",
            "expected OWNER/NAME such as hexgrad/kLegacy",
            max_length=200,
        ),
        vol.Optional("v019_revision", default="main"): _text(
            r"[A-Za-z0-9._][A-Za-z0-9._/-]*(?<!/)",
            "a revision",
            "expected a branch, tag or commit hash such as main",
        ),
        vol.Optional("v1_model_sha256", default=None): _optional(
            _text(r"[0-9a-fA-F]{64}", "a SHA-256 digest", "expected 64 hexadecimal characters")
        ),
        vol.Optional("v019_model_sha256", default=None): _optional(
            _text(r"[0-9a-fA-F]{64}", "a SHA-256 digest", "expected 64 hexadecimal characters")
        ),
        vol.Optional("offline", default=False): _boolean(),
        vol.Optional("update_voices", default=False): _boolean(),
        vol.Optional("zeroconf", default=None): _zeroconf_name(),
        vol.Optional("zeroconf_host", default=None): _optional(_host()),
        vol.Optional("debug", default=False): _boolean(),
        vol.Optional(
            "log_format", default="%(asctime)s %(levelname)s %(name)s: %(message)s"
        ): _log_format(),
        vol.Optional("config", default=None): _optional(_path()),
    },
    extra=vol.PREVENT_EXTRA,
)
"""Every setting: name, validator (type, allowed values) and default."""

OPTION_NAMES: tuple[str, ...] = tuple(str(key) for key in SCHEMA.schema)
"""Setting names in declaration order (the attributes of `Settings`)."""

_SHA256_OPTIONS = ("v1_model_sha256", "v019_model_sha256")
_FILE_OPTIONS = tuple(name for name in OPTION_NAMES if name != "config")

_DEFAULTS: dict[str, Any] = SCHEMA({})


def _normalise_hash(values: dict[str, Any]) -> dict[str, Any]:
    """Digests compare as lowercase hex whatever case the user typed."""
    for name in _SHA256_OPTIONS:
        if isinstance(values.get(name), str):
            values[name] = values[name].lower()
    return values


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one server process.

    Build it with `load_settings` (or `wyoming_kokoro.cli.parse_settings`) so
    every value is checked; the defaults here come from `SCHEMA`.

    `zeroconf` is None when discovery is off, "" (`ZEROCONF_DEFAULT_NAME`) to
    advertise under `wyoming_kokoro.discovery.default_service_name()`, or the
    service name to advertise. `download_dir` None means the first data dir
    (see `effective_download_dir`). `config` is the options file that was read.
    """

    uri: str = _DEFAULTS["uri"]
    data_dirs: tuple[Path, ...] = _DEFAULTS["data_dirs"]
    download_dir: Path | None = _DEFAULTS["download_dir"]
    voice: str = _DEFAULTS["voice"]
    default_version: str = _DEFAULTS["default_version"]
    device: str = _DEFAULTS["device"]
    speed: float = _DEFAULTS["speed"]
    samples_per_chunk: int = _DEFAULTS["samples_per_chunk"]
    streaming: bool = _DEFAULTS["streaming"]
    max_loaded_models: int = _DEFAULTS["max_loaded_models"]
    max_text_length: int = _DEFAULTS["max_text_length"]
    first_clause_chars: int = _DEFAULTS["first_clause_chars"]
    hub_url: str = _DEFAULTS["hub_url"]
    v1_repo: str = _DEFAULTS["v1_repo"]
    v1_revision: str = _DEFAULTS["v1_revision"]
    v019_repo: str = _DEFAULTS["v019_repo"]
    v019_revision: str = _DEFAULTS["v019_revision"]
    v1_model_sha256: str | None = _DEFAULTS["v1_model_sha256"]
    v019_model_sha256: str | None = _DEFAULTS["v019_model_sha256"]
    offline: bool = _DEFAULTS["offline"]
    update_voices: bool = _DEFAULTS["update_voices"]
    zeroconf: str | None = _DEFAULTS["zeroconf"]
    zeroconf_host: str | None = _DEFAULTS["zeroconf_host"]
    debug: bool = _DEFAULTS["debug"]
    log_format: str = _DEFAULTS["log_format"]
    config: Path | None = _DEFAULTS["config"]

    @property
    def effective_download_dir(self) -> Path:
        """Where downloads go: `download_dir`, else the first data dir."""
        return self.download_dir if self.download_dir is not None else self.data_dirs[0]


if {f.name for f in fields(Settings)} != set(OPTION_NAMES):  # pragma: no cover - dev guard
    raise RuntimeError("Settings attributes and SCHEMA keys differ")


# --- where settings come from -----------------------------------------------------


def env_var(name: str) -> str:
    """The environment variable that overrides setting `name`."""
    return ENV_PREFIX + name.upper()


def cli_flag(name: str) -> str:
    """The command-line flag that sets setting `name`."""
    special = {"data_dirs": "--data-dir", "streaming": "--no-streaming"}
    return special.get(name, "--" + name.replace("_", "-"))


def _suggest(word: str, choices: Iterable[str]) -> str:
    """ "; did you mean X?" when a close spelling exists, else a list of choices."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid options are {', '.join(choices)}"


def _env_values(environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """WYOMING_KOKORO_* variables as raw values; empty ones count as unset."""
    values: dict[str, Any] = {}
    env_names = {env_var(name): name for name in OPTION_NAMES}
    for key, text in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = env_names.get(key)
        if name is None:
            suffix = key[len(ENV_PREFIX) :].lower()
            close = difflib.get_close_matches(suffix, OPTION_NAMES, n=1, cutoff=0.6)
            hint = f"; did you mean {env_var(close[0])}?" if close else ""
            problems.append(f"unknown environment variable {key}{hint}")
            continue
        if not text.strip():
            continue
        if name == "data_dirs":
            values[name] = [part for part in text.split(os.pathsep) if part.strip()]
        elif name == "zeroconf" and text.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
            values[name] = text.strip().lower() in _TRUE_WORDS
        else:
            values[name] = text
    return values


def read_options_file(path: Path) -> dict[str, Any]:
    """The mapping in a JSON (``*.json``) or YAML (anything else) options file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"options file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(f"options file {path} cannot be read: {reason}") from None
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"options file {path} is not valid JSON: {err.msg} "
                f"at line {err.lineno} column {err.colno}"
            ) from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            problem = getattr(err, "problem", None) or "cannot be parsed"
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            raise ConfigError(f"options file {path} is not valid YAML: {problem}{where}") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"options file {path} must hold a mapping of option names to values, "
            f"not a {type(data).__name__}"
        )
    return data


def _validate(
    raw: Mapping[str, Any], describe: Callable[[str, str], str], problems: list[str]
) -> dict[str, Any]:
    """One source's good values, checked by `SCHEMA`; problems are worded by `describe`.

    Options are checked one at a time, in declaration order, so a bad value
    never hides the good ones (a bad --speed must not lose --config).
    """
    checked: dict[str, Any] = {}
    for name in sorted(raw, key=OPTION_NAMES.index):
        try:
            checked[name] = SCHEMA({name: raw[name]})[name]
        except vol.MultipleInvalid as err:
            for error in err.errors:
                problems.append(describe(name, error.error_message))
    return _normalise_hash(checked)


def load_settings(cli: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Validate and merge CLI > environment > options file > defaults.

    `cli` holds only the options the user actually gave (attribute names as keys).
    `environ` defaults to `os.environ`. Raises `ConfigError` naming every bad or
    unknown option, in one line.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []

    unknown_cli = [name for name in cli if name not in OPTION_NAMES]
    for name in unknown_cli:
        problems.append(f"unknown option {name!r}{_suggest(name, OPTION_NAMES)}")
    cli_values = _validate(
        {name: value for name, value in cli.items() if name not in unknown_cli},
        lambda name, problem: f"argument {cli_flag(name)}: {problem}",
        problems,
    )
    env_values = _validate(
        _env_values(environ, problems),
        lambda name, problem: f"{env_var(name)}: {problem}",
        problems,
    )

    file_values: dict[str, Any] = {}
    config_path = cli_values.get("config", env_values.get("config"))
    if config_path is not None:
        raw = read_options_file(config_path)
        known: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "config":
                problems.append(f"option 'config' cannot be set in an options file ({config_path})")
            elif key in OPTION_NAMES:
                known[key] = value
            else:
                hint = _suggest(str(key), _FILE_OPTIONS)
                problems.append(f"unknown option {str(key)!r} in {config_path}{hint}")
        file_values = _validate(
            known, lambda name, problem: f"{name}: {problem} (in {config_path})", problems
        )

    if problems:
        raise ConfigError(" | ".join(problems))

    values = {**SCHEMA({}), **file_values, **env_values, **cli_values}
    values["config"] = config_path
    if values["zeroconf"] is not None and not values["uri"].startswith("tcp://"):
        raise ConfigError(f"zeroconf: discovery needs a tcp:// uri, but uri is {values['uri']!r}")
    return Settings(**values)
