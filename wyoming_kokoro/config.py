"""Settings: one voluptuous schema validates the CLI, the environment and the options file.

Every setting is declared once, in `SCHEMA`: its name, type, allowed values and
default. The same schema checks values from all three places a setting can come
from, so a bad value reads the same wherever it was given, and the frozen
`Settings` dataclass takes its defaults from the schema rather than repeating them.

Precedence is CLI > environment (``WYOMING_KOKORO_<NAME>``) > options file
(``--config FILE``, JSON or YAML, e.g. the add-on's /data/options.json) > another
program's variable that supplies a default (`FOREIGN_DEFAULTS`: ``HF_ENDPOINT``
for ``hub_url``) > built-in defaults.
A source replaces a value as a whole: ``--data-dir`` on the command line replaces
the folders listed in the environment or the options file; it does not add to them.

The validators are chains of voluptuous built-ins (see `_rule`); they take
strings as well as typed values because the environment and the command line
only ever hold strings; they never raise anything but `voluptuous.Invalid` with a
message naming the value and what is allowed, which `load_settings` turns into a
one-line `ConfigError` naming the option as the user spelled it.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol

from .errors import ConfigError
from .models.generations import DEFAULT_VERSION, VERSIONS
from .voices.presets import SPEED_RANGE, VOLUME_RANGE, PresetSpec, parse_preset

DEVICES = ("auto", "cpu", "cuda")

PRECISIONS = ("auto", "fp32", "bf16")
"""`--precision` choices (resolved per device in `models.vocoder.precision_for`)."""

VOCODER_MODE_NAMES = ("auto", "lead-in", "off", "probes", "fast")
"""`--vocoder-window` choices (their windows are in `models.streaming`, which needs torch)."""

ENV_PREFIX = "WYOMING_KOKORO_"

ZEROCONF_DEFAULT_NAME = ""
"""`Settings.zeroconf` value meaning "advertise under the default service name"."""

DEFAULT_HUB_URL = "https://huggingface.co"

FOREIGN_DEFAULTS = {"hub_url": "HF_ENDPOINT"}
"""Settings whose default may come from another program's environment variable.

`HF_ENDPOINT` is the variable the Hugging Face tools read for a mirror. It is
a machine-wide default, often exported for every tool at once, so it ranks
below everything written for this server: command line >
``WYOMING_KOKORO_HUB_URL`` > options file > ``HF_ENDPOINT`` > built-in default.
It is checked by the same validator as ``--hub-url``, but only when it is used:
a value our settings override is another program's business.
"""

Validator = Callable[[Any], Any]


def _show(value: Any) -> str:
    """A value as the user would recognise it in an error message, kept short."""
    text = str(value) if isinstance(value, Path) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- value validators -------------------------------------------------------------
# Each setting's check is a chain of voluptuous built-ins (`vol.All` of `str`,
# `vol.Strip`, `vol.Coerce`, `vol.Range`, `vol.In`, `vol.Match`, ...), wrapped by
# `_rule` so that a failure names the offending value and says what is allowed
# (the option name is added by `load_settings`). A built-in's own `msg=` cannot
# name the value, hence the wrapper. Custom steps remain only where a built-in is
# wrong for us; each says why, and tests/test_config.py pins the built-in
# behaviour that rules it out (`test_builtin_*`).
#
# `str` comes before `vol.Strip` in every chain: `vol.Strip` is `str(v).strip()`,
# which would turn None or 5 into the strings "None" and "5".


def _rule(why: str, *steps: Any) -> Validator:
    """Run `steps` in order (`vol.All`); any failure reads "<value> <why>"."""
    chain = vol.Schema(vol.All(*steps, msg=why))

    def check(value: Any) -> Any:
        try:
            return chain(value)
        except vol.Invalid as err:
            raise vol.Invalid(f"{_show(value)} {err.msg}") from None

    return check


def _not_bool(value: Any) -> Any:
    """Custom: `vol.Coerce(float)(True)` is 1.0, so a YAML ``speed: yes`` would be a speed."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


def _no_fraction(value: Any) -> Any:
    """Custom: `vol.Coerce(int)` truncates 1024.5 to 1024 and lets OverflowError out on inf."""
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not a whole number")
    return value


def _boolean() -> Validator:
    # vol.Boolean() alone casts every non-string with bool(): 2, None, [] and 0.5
    # would all be accepted. Only real booleans, 0/1 and words reach it here.
    return _rule(
        "is not a boolean; expected true or false (also yes/no, on/off, enable/disable, 1/0)",
        vol.Any(bool, vol.All(int, vol.In((0, 1))), vol.All(str, vol.Strip)),
        vol.Boolean(),
    )


def _number(low: float, high: float) -> Validator:
    expected = f"expected a number from {low} to {high}"
    return vol.All(
        _rule(f"is not a number; {expected}", _not_bool, vol.Coerce(float)),
        _rule(f"is out of range; {expected}", vol.Range(low, high)),  # NaN fails too
    )


def _whole_number(low: int, high: int) -> Validator:
    expected = f"expected a whole number from {low} to {high}"
    return vol.All(
        _rule(f"is not a whole number; {expected}", _not_bool, _no_fraction, vol.Coerce(int)),
        _rule(f"is out of range; {expected}", vol.Range(low, high)),
    )


def _choice(allowed: Iterable[str], fold_case: bool = False) -> Validator:
    allowed = tuple(allowed)
    fold = (vol.Lower,) if fold_case else ()
    return _rule(f"is not one of {', '.join(allowed)}", str, vol.Strip, *fold, vol.In(allowed))


def _text(pattern: str, what: str, expected: str, max_length: int = 255) -> Validator:
    """A string that matches `pattern` as a whole (after trimming spaces), without ".."."""
    return _rule(
        f"is not {what}; {expected}",
        str,
        vol.Strip,
        vol.Length(max=max_length),
        vol.Match(rf"(?!.*\.\.)(?:{pattern})\Z"),
    )


def _blank_is_unset(value: Any) -> Any:
    """An empty string means "not set", like None (`vol.Maybe` only knows None)."""
    return None if isinstance(value, str) and not value.strip() else value


def _optional(inner: Validator) -> Validator:
    """None or an empty string means "not set"; anything else goes to `inner`."""
    # Not vol.Maybe(inner): that is vol.Any(None, inner), and vol.Any reports the first
    # alternative's failure, None's "not a valid value". Trying `inner` first keeps its message.
    return vol.All(_blank_is_unset, vol.Any(inner, None))


def _path() -> Validator:
    return _rule(
        "is not a path; expected a file or folder path",
        vol.Any(str, os.PathLike),
        os.fspath,  # a plain function: vol.Coerce only takes classes (it calls issubclass)
        str,
        vol.Strip,
        vol.Match(r"[^\0]+\Z"),
        os.path.expanduser,
        vol.Coerce(Path),
    )


def _paths() -> Validator:
    """One path or a list of them, searched in order; never empty."""
    folders = _rule(
        "is not a list of folders; expected at least one folder",
        vol.Any(list, tuple),
        vol.Length(min=1),
    )
    one_path = _path()

    def check(value: Any) -> tuple[Path, ...]:
        items = folders([value] if isinstance(value, (str, os.PathLike)) else value)
        try:
            return tuple(one_path(item) for item in items)
        except vol.Invalid as err:
            raise vol.Invalid(f"{err.msg} (in {_show(value)})") from None

    return check


def _host_and_port(text: str) -> str:
    """Custom: the URL has a host name and a valid port, if any (`vol.Url` checks neither)."""
    parts = urlsplit(text)
    if not parts.hostname:
        raise ValueError("no host")
    _ = parts.port  # ValueError unless a whole number from 0 to 65535
    return text


def _server_uri(text: str) -> str:
    """Custom: the Wyoming server URI forms; `vol.Url` wants a host, so rejects two of them."""
    parts = urlsplit(text)
    if parts.scheme == "tcp":
        _host_and_port(text)
        valid = (parts.port or 0) >= 1 and parts.path in ("", "/")
        valid = valid and not parts.query and not parts.fragment
    elif parts.scheme == "unix":
        valid = not parts.netloc and bool(parts.path) and not parts.query
    else:
        valid = text == "stdio://"
    if not valid:
        raise ValueError("not a server URI")
    return text


def _uri() -> Validator:
    return _rule(
        "is not a valid server URI; "
        "expected tcp://HOST:PORT (port 1 to 65535), unix:///path/to/socket or stdio://",
        str,
        vol.Strip,
        _server_uri,
    )


def _hub_url() -> Validator:
    return _rule(
        "is not a hub URL; expected an http:// or https:// URL such as https://huggingface.co",
        str,
        vol.Strip,
        vol.Match(r"(?i)https?://[^\s?#]+\Z"),  # no spaces, query or fragment
        _host_and_port,
        vol.Replace(r"/+\Z", ""),
    )


def _zeroconf_value(value: Any) -> str | None:
    """Custom: False/None: off; True or "": the default name; else a DNS-SD instance name.

    The 63 limit is in UTF-8 bytes; `vol.Length` counts characters.
    """
    if value is None or value is False:
        return None
    if value is True:
        return ZEROCONF_DEFAULT_NAME
    if not isinstance(value, str):
        raise ValueError("not a name")
    name = value.strip()
    if len(name.encode("utf-8")) > 63 or "." in name or not name.isprintable():
        raise ValueError("not a service name")
    return name


def _zeroconf_name() -> Validator:
    return _rule(
        "is not a service name; expected 1 to 63 characters (bytes in UTF-8) without dots",
        _zeroconf_value,
    )


_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def _host() -> Validator:
    return _rule(
        "is not an IP address or host name; expected an IP address or host name to advertise",
        str,
        vol.Strip,
        vol.Any(
            vol.All(ipaddress.ip_address, vol.Coerce(str)),
            vol.All(vol.Length(max=253), vol.Match(rf"(?:{_HOST_LABEL}\.)*{_HOST_LABEL}\.?\Z")),
        ),
    )


def _formats_a_record(value: str) -> str:
    """Custom: a %-style logging format that formats a record without error."""
    try:
        record = logging.LogRecord("wyoming_kokoro", logging.INFO, __file__, 1, "x", (), None)
        logging.Formatter(value, validate=True).format(record)
    except (ValueError, KeyError, TypeError):
        raise ValueError("not a usable log format") from None
    return value


def _log_format() -> Validator:
    return _rule(
        "is not a usable log format; "
        "expected a logging format such as '%(levelname)s %(name)s: %(message)s'",
        str,
        vol.Match(r"\s*\S"),
        _formats_a_record,
    )


_VERSION_PATTERN = "|".join(re.escape(version) for version in VERSIONS)
_VOICE_PART = rf"\s*[A-Za-z0-9][A-Za-z0-9_-]*(@({_VERSION_PATTERN}))?\s*(\(\s*[0-9.]+\s*\))?\s*"


def _preset(value: Any) -> PresetSpec:
    """Custom: NAME=VOICE[,speed=S][,volume=V] (see `voices.presets`) into its parts."""
    if isinstance(value, PresetSpec):
        return value
    if not isinstance(value, str):
        raise vol.Invalid(
            f"{_show(value)} is not a preset; expected NAME=VOICE[,speed=S][,volume=V]"
        )
    try:
        return parse_preset(value.strip())
    except ValueError as err:
        raise vol.Invalid(
            f"{_show(value)} is not a preset ({err}); expected NAME=VOICE[,speed=S][,volume=V]"
        ) from None


def _presets() -> Validator:
    """A list of presets (one string is one preset); names must differ."""
    listed = _rule(
        "is not a list of presets; expected NAME=VOICE[,speed=S][,volume=V] items",
        vol.Any(list, tuple),
    )

    def check(value: Any) -> tuple[PresetSpec, ...]:
        items = listed([value] if isinstance(value, (str, PresetSpec)) else value)
        presets = tuple(_preset(item) for item in items)
        names = [preset.name for preset in presets]
        for name in names:
            if names.count(name) > 1:
                raise vol.Invalid(f"preset {name!r} is defined twice; expected one name each")
        return presets

    return check


_REPO_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*"
_REVISION_PATTERN = r"[A-Za-z0-9._][A-Za-z0-9._/-]*(?<!/)"


def _sha256() -> Validator:
    """64 hex digits, compared lowercase whatever case the user typed."""
    return _optional(
        _rule(
            "is not a SHA-256 digest; expected 64 hexadecimal characters",
            str,
            vol.Strip,
            vol.Match(r"[0-9a-fA-F]{64}\Z"),
            vol.Lower,
        )
    )


# --- the schema -------------------------------------------------------------------

SCHEMA = vol.Schema(
    {
        vol.Optional("uri", default="tcp://0.0.0.0:10200"): _uri(),
        vol.Optional("data_dirs", default=("~/.local/share/wyoming-kokoro",)): _paths(),
        vol.Optional("download_dir", default=None): _optional(_path()),
        vol.Optional("voice", default="af_heart"): _text(
            rf"{_VOICE_PART}(\+{_VOICE_PART})*",
            "a voice name",
            f"expected NAME or NAME@VERSION with VERSION one of {', '.join(VERSIONS)}, "
            "e.g. af_heart or af_bella@v0.19, a blend such as af_bella(2)+af_sky(1), "
            "or a preset's name",
            max_length=300,
        ),
        vol.Optional("default_version", default=DEFAULT_VERSION): _choice(VERSIONS),
        vol.Optional("device", default="auto"): _choice(DEVICES, fold_case=True),
        vol.Optional("speed", default=1.0): _number(*SPEED_RANGE),
        vol.Optional("volume", default=1.0): _number(*VOLUME_RANGE),
        vol.Optional("presets", default=()): _presets(),
        vol.Optional("lexicon", default=None): _optional(_path()),
        vol.Optional("samples_per_chunk", default=1024): _whole_number(64, 48000),
        vol.Optional("vocoder_window", default="auto"): _choice(VOCODER_MODE_NAMES),
        vol.Optional("precision", default="auto"): _choice(PRECISIONS, fold_case=True),
        vol.Optional("streaming", default=True): _boolean(),
        vol.Optional("max_loaded_models", default=2): _whole_number(1, 2),
        vol.Optional("max_text_length", default=10000): _whole_number(1, 100000),
        vol.Optional("first_clause_chars", default=60): _whole_number(0, 400),
        vol.Optional("hub_url", default=DEFAULT_HUB_URL): _hub_url(),
        vol.Optional("v1_repo", default="hexgrad/Kokoro-82M"): _text(
            _REPO_PATTERN,
            "a repository id",
            "expected OWNER/NAME such as hexgrad/Kokoro-82M",
            max_length=200,
        ),
        vol.Optional("v1_revision", default="main"): _text(
            _REVISION_PATTERN, "a revision", "expected a branch, tag or commit hash such as main"
        ),
        vol.Optional("v019_repo", default="hexgrad/kLegacy"): _text(
            _REPO_PATTERN,
            "a repository id",
            "expected OWNER/NAME such as hexgrad/kLegacy",
            max_length=200,
        ),
        vol.Optional("v019_revision", default="main"): _text(
            _REVISION_PATTERN, "a revision", "expected a branch, tag or commit hash such as main"
        ),
        vol.Optional("v1_model_sha256", default=None): _sha256(),
        vol.Optional("v019_model_sha256", default=None): _sha256(),
        vol.Optional("offline", default=False): _boolean(),
        vol.Optional("update_voices", default=False): _boolean(),
        vol.Optional("download_wait", default=30): _whole_number(1, 3600),
        vol.Optional("max_connections", default=32): _whole_number(1, 1000),
        vol.Optional("max_queued_requests", default=16): _whole_number(1, 1000),
        vol.Optional("max_wait", default=120): _whole_number(1, 3600),
        vol.Optional("idle_timeout", default=120): _whole_number(5, 3600),
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

_FILE_OPTIONS = tuple(name for name in OPTION_NAMES if name != "config")

_DEFAULTS: dict[str, Any] = SCHEMA({})


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
    volume: float = _DEFAULTS["volume"]
    presets: tuple[PresetSpec, ...] = _DEFAULTS["presets"]
    lexicon: Path | None = _DEFAULTS["lexicon"]
    samples_per_chunk: int = _DEFAULTS["samples_per_chunk"]
    vocoder_window: str = _DEFAULTS["vocoder_window"]
    precision: str = _DEFAULTS["precision"]
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
    download_wait: int = _DEFAULTS["download_wait"]
    max_connections: int = _DEFAULTS["max_connections"]
    max_queued_requests: int = _DEFAULTS["max_queued_requests"]
    max_wait: int = _DEFAULTS["max_wait"]
    idle_timeout: int = _DEFAULTS["idle_timeout"]
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
    special = {"data_dirs": "--data-dir", "streaming": "--no-streaming", "presets": "--preset"}
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
        elif name == "presets":
            values[name] = [part for part in text.split(";") if part.strip()]
        elif name == "zeroconf":
            # A boolean word turns discovery on (default name) or off; else it is the name.
            try:
                values[name] = vol.Boolean()(text.strip())
            except vol.Invalid:
                values[name] = text
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
    return checked


def load_settings(cli: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Validate and merge CLI > environment > options file > `FOREIGN_DEFAULTS` > defaults.

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

    set_values = {**file_values, **env_values, **cli_values}
    foreign_values = _validate(
        {
            name: environ[variable]
            for name, variable in FOREIGN_DEFAULTS.items()
            if name not in set_values and environ.get(variable, "").strip()
        },
        lambda name, problem: f"{FOREIGN_DEFAULTS[name]}: {problem}",
        problems,
    )

    if problems:
        raise ConfigError(" | ".join(problems))

    values = {**SCHEMA({}), **foreign_values, **set_values}
    values["config"] = config_path
    if values["zeroconf"] is not None and not values["uri"].startswith("tcp://"):
        raise ConfigError(f"zeroconf: discovery needs a tcp:// uri, but uri is {values['uri']!r}")
    return Settings(**values)
