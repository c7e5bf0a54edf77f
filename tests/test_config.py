"""Settings validation: every option's bad values, defaults, sources and precedence.

These call `load_settings` directly with the three sources a user has: the
command-line mapping, an environment mapping and a real options file on disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol

from wyoming_kokoro.config import (
    DEFAULT_HUB_URL,
    OPTION_NAMES,
    Settings,
    cli_flag,
    env_var,
    load_settings,
)
from wyoming_kokoro.errors import ConfigError

NO_ENV: dict[str, str] = {}

# Bad values per option: (value as a Python object, usable from a file or the CLI).
BAD_VALUES: dict[str, list[Any]] = {
    "uri": [
        "http://localhost:10200",
        "tcp://localhost",
        "tcp://localhost:0",
        "tcp://localhost:65536",
        "tcp://:10200",
        "unix://",
        "stdio://extra",
        "10200",
        10200,
    ],
    "data_dirs": [[], [""], 5],
    "download_dir": [5, ["a", "b"]],
    "voice": ["af heart", "../../etc/passwd", "af_bella@v2", "@v1.0", "af_bella@", 7],
    "default_version": ["v2", "1.0", "v1_0", None],
    "device": ["tpu", "cuda:0", ""],
    "speed": ["9", 0.49, 2.01, "fast", "nan", "inf", True, None],
    "volume": ["3", 0.09, 2.01, "loud", "nan", False, None],
    "presets": ["calm", "x=af_heart,speed=9", ["a=af_heart", "a=af_sky"], [5], 5, "=af_heart"],
    "lexicon": [5, ["a", "b"], "bad\0path"],
    "samples_per_chunk": [63, 48001, "1.5", 1024.5, "abc", False],
    "vocoder_window": ["on", "slow", 1, None],
    "precision": ["fp16", "int8", 16, None],
    "streaming": ["maybe", 2, "", None],
    "max_loaded_models": [0, 3, "two"],
    "max_text_length": [0, 100001, -5],
    "first_clause_chars": [-1, 401, "soon"],
    "hub_url": ["ftp://mirror.example", "huggingface.co", "https://", "https://h.example/?q=1", 1],
    "v1_repo": ["Kokoro-82M", "a/b/c", "../x", "owner/", "owner name/x"],
    "v1_revision": ["", "a branch", "../main", "main/", 3],
    "v019_repo": ["kLegacy", "hexgrad//kLegacy"],
    "v019_revision": ["", "rev with spaces"],
    "v1_model_sha256": ["abc", "g" * 64, "0" * 63, "0" * 65, 12],
    "v019_model_sha256": ["z" * 64, "0" * 40],
    "offline": ["maybe", 2],
    "update_voices": ["sometimes", 5],
    "download_wait": [0, 3601, -1, "soon", "1.5", 2.5, True, None],
    "max_connections": [0, 1001, "many", 1.5, False],
    "max_queued_requests": [0, 1001, "lots", "2.5", None],
    "max_wait": [0, 3601, "forever", 0.5],
    "idle_timeout": [4, 3601, "never", True],
    "zeroconf": ["kitchen.tts", "x" * 64, "ä" * 32, "bell\x07", 5],
    "zeroconf_host": ["bad host", "-leading-dash", "a" * 64 + ".example", 1],
    "debug": ["verbose", 3],
    "log_format": ["%(nope)s", "%(message", "", "plain text", 5],
}

# Good values that a string-only source (environment, CLI) can express.
GOOD_CASES: list[tuple[str, Any, Any]] = [
    ("uri", "tcp://127.0.0.1:1", "tcp://127.0.0.1:1"),
    ("uri", "tcp://[::1]:65535", "tcp://[::1]:65535"),
    ("uri", "unix:///run/kokoro.sock", "unix:///run/kokoro.sock"),
    ("uri", "stdio://", "stdio://"),
    ("voice", "af_bella@v0.19", "af_bella@v0.19"),
    ("voice", "zf_xiaoxiao", "zf_xiaoxiao"),
    ("voice", "af_bella(2)+af_sky(1)", "af_bella(2)+af_sky(1)"),
    ("voice", "narrator", "narrator"),
    ("volume", "0.1", 0.1),
    ("lexicon", "~/lexicon.yaml", Path("~/lexicon.yaml").expanduser()),
    ("default_version", "v0.19", "v0.19"),
    ("device", "CPU", "cpu"),
    ("speed", "0.5", 0.5),
    ("speed", "2", 2.0),
    ("samples_per_chunk", "48000", 48000),
    ("max_loaded_models", "1", 1),
    ("max_text_length", "100000", 100000),
    ("download_wait", "1", 1),
    ("download_wait", "3600", 3600),
    ("max_connections", "1", 1),
    ("max_queued_requests", "1000", 1000),
    ("max_wait", " 60 ", 60),
    ("idle_timeout", "5", 5),
    ("hub_url", "http://mirror.local:8080/hf/", "http://mirror.local:8080/hf"),
    ("v1_repo", "me/Kokoro-82M.fork", "me/Kokoro-82M.fork"),
    ("v1_revision", "refs/pr/7", "refs/pr/7"),
    ("v1_model_sha256", "AB" * 32, "ab" * 32),
    ("zeroconf", "Kitchen TTS", "Kitchen TTS"),
    ("zeroconf_host", "192.168.1.20", "192.168.1.20"),
    ("zeroconf_host", "kokoro.local", "kokoro.local"),
    ("log_format", "%(levelname)s %(message)s", "%(levelname)s %(message)s"),
]


def bad_cases() -> list[tuple[str, Any]]:
    return [(name, value) for name, values in BAD_VALUES.items() for value in values]


def write_options(path: Path, options: dict[str, Any]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(options), encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump(options), encoding="utf-8")
    return path


def problem(cli: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(cli, NO_ENV if environ is None else environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_every_option_has_bad_value_cases() -> None:
    """The table above covers every setting except the options-file path itself."""
    assert set(BAD_VALUES) == set(OPTION_NAMES) - {"config"}


def test_settings_attributes_are_the_schema_options() -> None:
    assert [f.name for f in fields(Settings)] == list(OPTION_NAMES)


@pytest.mark.parametrize(("name", "value"), bad_cases())
def test_bad_value_on_command_line_names_the_flag(name: str, value: Any) -> None:
    message = problem({name: value})
    assert message.startswith(f"argument {cli_flag(name)}: ")
    assert "expected" in message or "is not one of" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name, value in bad_cases() if isinstance(value, str) and value.strip()],
)
def test_bad_value_in_environment_names_the_variable(name: str, value: str) -> None:
    message = problem({}, {env_var(name): value})
    assert message.startswith(f"{env_var(name)}: ")
    assert "expected" in message or "is not one of" in message


@pytest.mark.parametrize(("name", "value"), bad_cases())
def test_bad_value_in_options_file_names_option_and_file(
    tmp_path: Path, name: str, value: Any
) -> None:
    path = write_options(tmp_path / "options.json", {name: value})
    message = problem({"config": str(path)})
    assert message.startswith(f"{name}: ")
    assert message.endswith(f"(in {path})")


def test_messages_say_what_is_allowed() -> None:
    assert problem({"speed": 3.0}) == (
        "argument --speed: 3.0 is out of range; expected a number from 0.5 to 2.0"
    )
    assert problem({"default_version": "v2"}) == (
        "argument --default-version: 'v2' is not one of v1.0, v0.19"
    )
    assert problem({}, {"WYOMING_KOKORO_DEVICE": "tpu"}) == (
        "WYOMING_KOKORO_DEVICE: 'tpu' is not one of auto, cpu, cuda"
    )
    assert "from 64 to 48000" in problem({"samples_per_chunk": "10"})
    assert problem({"download_wait": "0"}) == (
        "argument --download-wait: 0 is out of range; expected a whole number from 1 to 3600"
    )
    assert "tcp://HOST:PORT" in problem({"uri": "tcp://x:0"})


@pytest.mark.parametrize(("name", "text", "expected"), GOOD_CASES)
def test_good_values_from_cli_and_environment(name: str, text: str, expected: Any) -> None:
    assert getattr(load_settings({name: text}, NO_ENV), name) == expected
    assert getattr(load_settings({}, {env_var(name): text}), name) == expected


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings({}, NO_ENV)
    data_dir = tmp_path / ".local" / "share" / "wyoming-kokoro"
    assert settings == Settings(
        uri="tcp://0.0.0.0:10200",
        data_dirs=(data_dir,),
        download_dir=None,
        voice="af_heart",
        default_version="v1.0",
        device="auto",
        speed=1.0,
        samples_per_chunk=1024,
        streaming=True,
        max_loaded_models=2,
        max_text_length=10000,
        first_clause_chars=60,
        hub_url="https://huggingface.co",
        v1_repo="hexgrad/Kokoro-82M",
        v1_revision="main",
        v019_repo="hexgrad/kLegacy",
        v019_revision="main",
        v1_model_sha256=None,
        v019_model_sha256=None,
        offline=False,
        update_voices=False,
        download_wait=30,
        max_connections=32,
        max_queued_requests=16,
        max_wait=120,
        idle_timeout=120,
        zeroconf=None,
        zeroconf_host=None,
        debug=False,
        log_format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        config=None,
    )
    assert settings.effective_download_dir == data_dir


def test_paths_expand_home_and_download_dir_defaults_to_first_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings({"data_dirs": ["~/first", "/srv/second"]}, NO_ENV)
    assert settings.data_dirs == (tmp_path / "first", Path("/srv/second"))
    assert settings.effective_download_dir == tmp_path / "first"
    settings = load_settings({"download_dir": "~/downloads"}, NO_ENV)
    assert settings.download_dir == tmp_path / "downloads"
    assert settings.effective_download_dir == tmp_path / "downloads"


def test_settings_are_frozen() -> None:
    settings = load_settings({}, NO_ENV)
    with pytest.raises(AttributeError):
        settings.speed = 2.0  # type: ignore[misc]


def test_precedence_cli_over_environment_over_file_over_defaults(tmp_path: Path) -> None:
    path = write_options(tmp_path / "options.yaml", {"speed": 1.1, "voice": "af_bella"})
    environ = {"WYOMING_KOKORO_SPEED": "1.2", "WYOMING_KOKORO_CONFIG": str(path)}

    assert load_settings({"speed": "1.3"}, environ).speed == 1.3
    assert load_settings({}, environ).speed == 1.2
    assert load_settings({}, {"WYOMING_KOKORO_CONFIG": str(path)}).speed == 1.1
    assert load_settings({}, NO_ENV).speed == 1.0
    # What a higher source does not set still comes from below it.
    assert load_settings({"speed": "1.3"}, environ).voice == "af_bella"


def test_data_dirs_from_a_higher_source_replace_lower_ones(tmp_path: Path) -> None:
    path = write_options(tmp_path / "options.json", {"data_dirs": ["/file/a", "/file/b"]})
    environ = {"WYOMING_KOKORO_DATA_DIRS": os.pathsep.join(["/env/a", "/env/b"])}
    assert load_settings({"config": path}, NO_ENV).data_dirs == (Path("/file/a"), Path("/file/b"))
    assert load_settings({"config": path}, environ).data_dirs == (Path("/env/a"), Path("/env/b"))
    assert load_settings({"config": path, "data_dirs": ["/cli"]}, environ).data_dirs == (
        Path("/cli"),
    )


def test_cli_config_path_wins_over_environment_config_path(tmp_path: Path) -> None:
    from_cli = write_options(tmp_path / "cli.json", {"speed": 0.7})
    from_env = write_options(tmp_path / "env.json", {"speed": 0.8})
    settings = load_settings({"config": str(from_cli)}, {"WYOMING_KOKORO_CONFIG": str(from_env)})
    assert settings.speed == 0.7
    assert settings.config == from_cli


def test_home_assistant_options_json(tmp_path: Path) -> None:
    """The add-on passes /data/options.json with attribute names and typed values."""
    options = {
        "voice": "bf_emma@v0.19",
        "default_version": "v0.19",
        "speed": 1.25,
        "streaming": False,
        "samples_per_chunk": 2048,
        "data_dirs": ["/share/kokoro", "/data"],
        "download_dir": "/data",
        "max_loaded_models": 1,
        "offline": True,
        "debug": True,
        "v1_model_sha256": None,
    }
    path = write_options(tmp_path / "options.json", options)
    settings = load_settings({"config": str(path)}, NO_ENV)
    assert settings.voice == "bf_emma@v0.19"
    assert settings.default_version == "v0.19"
    assert settings.speed == 1.25
    assert settings.streaming is False
    assert settings.samples_per_chunk == 2048
    assert settings.data_dirs == (Path("/share/kokoro"), Path("/data"))
    assert settings.download_dir == Path("/data")
    assert settings.max_loaded_models == 1
    assert settings.offline is True
    assert settings.debug is True
    assert settings.v1_model_sha256 is None
    assert settings.config == path


def test_yaml_options_file(tmp_path: Path) -> None:
    path = tmp_path / "kokoro.yaml"
    path.write_text(
        "# my server\n"
        "uri: tcp://127.0.0.1:10555\n"
        "data_dirs:\n  - /models/kokoro\n"
        "streaming: no\n"
        "zeroconf: Living room\n"
        "max_text_length: 500\n",
        encoding="utf-8",
    )
    settings = load_settings({"config": str(path)}, NO_ENV)
    assert settings.uri == "tcp://127.0.0.1:10555"
    assert settings.data_dirs == (Path("/models/kokoro"),)
    assert settings.streaming is False
    assert settings.zeroconf == "Living room"
    assert settings.max_text_length == 500


def test_empty_yaml_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("# nothing set\n", encoding="utf-8")
    assert load_settings({"config": str(path)}, NO_ENV).speed == 1.0


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.json", '{"speed": 1.0,', "is not valid JSON"),
        ("broken.yaml", "speed: [1.0\n", "is not valid YAML"),
        ("list.json", "[1, 2]", "must hold a mapping of option names to values, not a list"),
        ("text.yaml", "just words", "must hold a mapping"),
    ],
)
def test_unreadable_options_file(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    message = problem({"config": str(path)})
    assert str(path) in message
    assert expected in message


def test_missing_options_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    assert problem({"config": str(path)}) == f"options file {path} does not exist"
    message = problem({}, {"WYOMING_KOKORO_CONFIG": str(path)})
    assert message == f"options file {path} does not exist"


def test_unknown_options_in_file_are_named(tmp_path: Path) -> None:
    path = write_options(tmp_path / "options.json", {"foo": 1, "spede": 1.2})
    message = problem({"config": str(path)})
    assert f"unknown option 'foo' in {path}" in message
    assert f"unknown option 'spede' in {path}; did you mean 'speed'?" in message


def test_config_cannot_point_to_another_file(tmp_path: Path) -> None:
    path = write_options(tmp_path / "options.json", {"config": "/other.json"})
    assert "option 'config' cannot be set in an options file" in problem({"config": str(path)})


def test_unknown_wyoming_kokoro_variables_are_named_others_ignored() -> None:
    environ = {
        "PATH": "/usr/bin",
        "WYOMING_PIPER_VOICE": "x",
        "WYOMING_KOKORO_FOO": "1",
        "WYOMING_KOKORO_DATA_DIR": "/x",
    }
    message = problem({}, environ)
    assert "unknown environment variable WYOMING_KOKORO_FOO" in message
    assert (
        "unknown environment variable WYOMING_KOKORO_DATA_DIR; "
        "did you mean WYOMING_KOKORO_DATA_DIRS?" in message
    )
    assert "PATH" not in message and "PIPER" not in message
    assert load_settings({}, {"PATH": "/usr/bin", "WYOMING_PIPER_VOICE": "x"}).voice == "af_heart"


@pytest.mark.parametrize("name", ["streaming", "offline", "update_voices", "debug"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("off", False),
        (" yes ", True),
        ("enable", True),
        ("disable", False),
    ],
)
def test_boolean_words_from_environment(name: str, text: str, expected: bool) -> None:
    assert getattr(load_settings({}, {env_var(name): text}), name) is expected


def test_data_dirs_from_environment_split_on_pathsep() -> None:
    text = os.pathsep.join(["/a", "/b c", "", "/d"])
    settings = load_settings({}, {"WYOMING_KOKORO_DATA_DIRS": text})
    assert settings.data_dirs == (Path("/a"), Path("/b c"), Path("/d"))


def test_empty_environment_variable_counts_as_unset() -> None:
    settings = load_settings({}, {"WYOMING_KOKORO_SPEED": "", "WYOMING_KOKORO_VOICE": "  "})
    assert settings.speed == 1.0
    assert settings.voice == "af_heart"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("kitchen", "kitchen"), ("true", ""), ("on", ""), ("false", None), ("off", None)],
)
def test_zeroconf_from_environment(text: str, expected: str | None) -> None:
    assert load_settings({}, {"WYOMING_KOKORO_ZEROCONF": text}).zeroconf == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, ""), (False, None), (None, None), ("", ""), ("Den", "Den")],
)
def test_zeroconf_from_options_file(tmp_path: Path, value: Any, expected: str | None) -> None:
    path = write_options(tmp_path / "options.json", {"zeroconf": value})
    assert load_settings({"config": str(path)}, NO_ENV).zeroconf == expected


def test_zeroconf_needs_a_tcp_uri() -> None:
    message = problem({"zeroconf": "", "uri": "stdio://"})
    assert message == "zeroconf: discovery needs a tcp:// uri, but uri is 'stdio://'"
    assert load_settings({"zeroconf": "", "uri": "tcp://0.0.0.0:1"}, NO_ENV).zeroconf == ""


def test_every_problem_is_reported_in_one_line(tmp_path: Path) -> None:
    path = write_options(tmp_path / "options.json", {"device": "tpu"})
    message = problem(
        {"speed": "9", "config": str(path)}, {"WYOMING_KOKORO_MAX_LOADED_MODELS": "5"}
    )
    assert "argument --speed: 9.0 is out of range" in message
    assert "WYOMING_KOKORO_MAX_LOADED_MODELS: 5 is out of range" in message
    assert f"device: 'tpu' is not one of auto, cpu, cuda (in {path})" in message


def test_typed_values_are_accepted_as_is(tmp_path: Path) -> None:
    """Callers building settings in code may pass typed values instead of strings."""
    settings = load_settings(
        {"data_dirs": [tmp_path], "speed": 1, "samples_per_chunk": 512, "offline": True},
        NO_ENV,
    )
    assert settings.data_dirs == (tmp_path,)
    assert settings.speed == 1.0 and isinstance(settings.speed, float)
    assert settings.samples_per_chunk == 512
    assert settings.offline is True


# -- HF_ENDPOINT: another program's variable, a default below all of our own sources ------

MIRROR = "http://mirror.local:8080"


def test_hf_endpoint_is_the_default_hub_url() -> None:
    assert load_settings({}, {"HF_ENDPOINT": MIRROR + "/"}).hub_url == MIRROR
    assert load_settings({}, {"HF_ENDPOINT": "  "}).hub_url == DEFAULT_HUB_URL
    assert load_settings({}, NO_ENV).hub_url == DEFAULT_HUB_URL


def test_every_hub_url_setting_wins_over_hf_endpoint(tmp_path: Path) -> None:
    """CLI > WYOMING_KOKORO_HUB_URL > options file > HF_ENDPOINT > built-in default.

    HF_ENDPOINT is machine-wide, often exported for every Hugging Face tool, so what
    was written for this server, an options file included, beats it. An explicit
    --hub-url wins even when it names the default hub.
    """
    path = write_options(tmp_path / "options.json", {"hub_url": "http://file.example"})
    environ = {"HF_ENDPOINT": MIRROR, "WYOMING_KOKORO_CONFIG": str(path)}
    assert load_settings({"hub_url": DEFAULT_HUB_URL}, environ).hub_url == DEFAULT_HUB_URL
    assert load_settings({}, {**environ, env_var("hub_url"): "http://env.example"}).hub_url == (
        "http://env.example"
    )
    assert load_settings({}, environ).hub_url == "http://file.example"
    assert load_settings({}, {"HF_ENDPOINT": MIRROR}).hub_url == MIRROR


def test_bad_hf_endpoint_is_one_line_naming_it() -> None:
    assert problem({}, {"HF_ENDPOINT": "hf-mirror.com"}) == (
        "HF_ENDPOINT: 'hf-mirror.com' is not a hub URL; "
        "expected an http:// or https:// URL such as https://huggingface.co"
    )


def test_hf_endpoint_is_not_checked_when_a_hub_url_setting_overrides_it() -> None:
    """It is another program's variable: a value we never use is not our business."""
    settings = load_settings({"hub_url": "http://cli.example"}, {"HF_ENDPOINT": "not a url"})
    assert settings.hub_url == "http://cli.example"


# -- voluptuous built-ins that are wrong for us, and the custom steps that replace them ---


def test_builtin_boolean_casts_any_non_string() -> None:
    """vol.Boolean() is bool(value) for non-strings, so only bools, 0/1 and words reach it."""
    assert vol.Boolean()(2) is True
    assert vol.Boolean()(0.5) is True
    assert vol.Boolean()(None) is False
    assert vol.Boolean()([]) is False
    with pytest.raises(vol.Invalid):
        vol.Boolean()(" yes")  # and it does not trim: we strip first
    for value in (2, 0.5, None, []):
        assert "is not a boolean" in problem({"offline": value})
    assert load_settings({"offline": 1}, NO_ENV).offline is True


def test_builtin_coerce_takes_booleans_as_numbers(tmp_path: Path) -> None:
    """vol.Coerce(float)(True) is 1.0: a YAML `speed: yes` would be a speed (`_not_bool`)."""
    assert vol.Coerce(float)(True) == 1.0
    assert vol.Coerce(int)(True) == 1
    path = tmp_path / "options.yaml"
    path.write_text("speed: yes\nmax_loaded_models: on\n", encoding="utf-8")
    message = problem({"config": str(path)})
    assert f"speed: True is not a number; expected a number from 0.5 to 2.0 (in {path})" in message
    assert "max_loaded_models: True is not a whole number" in message


def test_builtin_coerce_int_truncates_and_overflows(tmp_path: Path) -> None:
    """vol.Coerce(int) makes 1024.5 into 1024 and lets OverflowError out on inf (`_no_fraction`)."""
    assert vol.Coerce(int)(1024.5) == 1024
    with pytest.raises(OverflowError):
        vol.Coerce(int)(float("inf"))
    path = tmp_path / "options.yaml"
    path.write_text("samples_per_chunk: .inf\nmax_text_length: 500.5\n", encoding="utf-8")
    message = problem({"config": str(path)})
    assert "samples_per_chunk: inf is not a whole number" in message
    assert "max_text_length: 500.5 is not a whole number" in message
    assert load_settings({"samples_per_chunk": 2048.0}, NO_ENV).samples_per_chunk == 2048


def test_builtin_maybe_hides_the_reason() -> None:
    """vol.Maybe(x) is vol.Any(None, x), which reports None's failure, not x's (`_optional`)."""
    with pytest.raises(vol.Invalid) as caught:
        vol.Schema(vol.Maybe(vol.Match("[0-9a-f]{64}$", msg="expected 64 hex digits")))("abc")
    assert caught.value.msg == "not a valid value"
    assert problem({"v1_model_sha256": "abc"}) == (
        "argument --v1-model-sha256: 'abc' is not a SHA-256 digest; "
        "expected 64 hexadecimal characters"
    )


def test_builtin_url_is_too_loose_for_a_hub_and_fqdn_url_too_strict() -> None:
    """vol.Url only wants a scheme and a host part; vol.FqdnUrl refuses local mirrors."""
    loose = ["ftp://mirror.example", "https://h.example/?q=1", "https://:80", "http://h:99999"]
    for url in loose:
        assert vol.Url()(url) == url
        assert "is not a hub URL" in problem({"hub_url": url})
    with pytest.raises(vol.Invalid):
        vol.FqdnUrl()("http://localhost:8000")
    assert load_settings({"hub_url": "http://localhost:8000"}, NO_ENV).hub_url == (
        "http://localhost:8000"
    )


def test_builtin_url_refuses_wyoming_server_uris() -> None:
    """vol.Url wants a host: it refuses unix:// and stdio:// and takes tcp:// without a port."""
    for uri in ("unix:///run/kokoro.sock", "stdio://"):
        with pytest.raises(vol.Invalid):
            vol.Url()(uri)
        assert load_settings({"uri": uri}, NO_ENV).uri == uri
    assert vol.Url()("tcp://localhost") == "tcp://localhost"
    assert "is not a valid server URI" in problem({"uri": "tcp://localhost"})


def test_builtin_length_counts_characters_not_bytes() -> None:
    """A DNS-SD instance name is at most 63 bytes in UTF-8; vol.Length counts characters."""
    assert vol.Length(max=63)("ä" * 32) == "ä" * 32
    assert "is not a service name" in problem({"zeroconf": "ä" * 32})
    assert load_settings({"zeroconf": "ä" * 31}, NO_ENV).zeroconf == "ä" * 31


def test_builtin_strip_turns_anything_into_a_string() -> None:
    """vol.Strip is str(v).strip(): None would be "None", so every chain checks `str` first."""
    assert vol.Strip(None) == "None"
    assert problem({"device": None}) == ("argument --device: None is not one of auto, cpu, cuda")
