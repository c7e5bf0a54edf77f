"""The command line: flags to settings, one-line errors, --help/--version without torch.

The subprocess tests run `python -m wyoming_kokoro` exactly as a user would. How the
running server reacts to signals, a taken port, a bad voice and the logging flags is
tested on a real server process in tests/test_service.py.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wyoming_kokoro import __version__
from wyoming_kokoro.cli import build_parser, parse_settings
from wyoming_kokoro.config import OPTION_NAMES, Settings, cli_flag

NO_ENV: dict[str, str] = {}


def clean_environ() -> dict[str, str]:
    """The current environment without any WYOMING_KOKORO_* override."""
    return {
        key: value for key, value in os.environ.items() if not key.startswith("WYOMING_KOKORO_")
    }


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wyoming_kokoro", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environ() if env is None else env,
    )


@pytest.fixture(autouse=True)
def no_kokoro_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("WYOMING_KOKORO_"):
            monkeypatch.delenv(key)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """main() reconfigures the root logger; put pytest's setup back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- the real process ---------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


def test_help_lists_every_option_and_the_environment() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in OPTION_NAMES:
        assert cli_flag(name) in result.stdout
    assert "WYOMING_KOKORO_" in result.stdout


def test_bad_value_exits_2_with_one_line_and_no_traceback() -> None:
    result = run_cli("--speed", "9")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr == (
        "wyoming-kokoro: error: argument --speed: 9.0 is out of range; "
        "expected a number from 0.5 to 2.0\n"
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_environment_value_exits_2_with_one_line() -> None:
    env = {**clean_environ(), "WYOMING_KOKORO_DEVICE": "tpu"}
    result = run_cli(env=env)
    assert result.returncode == 2
    assert result.stderr == (
        "wyoming-kokoro: error: WYOMING_KOKORO_DEVICE: 'tpu' is not one of auto, cpu, cuda\n"
    )


def test_broken_options_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "options.yaml"
    path.write_text("speed: [1.0\nvoice: x\n", encoding="utf-8")
    result = run_cli("--config", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"options file {path} is not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_flag_exits_2_with_one_line() -> None:
    result = run_cli("--sped", "1.0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--sped" in result.stderr


def test_help_version_and_parsing_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from wyoming_kokoro.cli import parse_settings, build_parser\n"
        "parse_settings(['--voice', 'af_bella@v0.19', '--zeroconf'], {})\n"
        "for flag in ('--help', '--version'):\n"
        "    try:\n"
        "        build_parser().parse_args([flag])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules, 'wyoming_kokoro.server' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines()[-1] == "False False"


# --- flags to settings --------------------------------------------------------------


def test_every_flag_sets_its_attribute(tmp_path: Path) -> None:
    argv = [
        "--uri", "tcp://127.0.0.1:10300",
        "--data-dir", str(tmp_path / "one"),
        "--data-dir", str(tmp_path / "two"),
        "--download-dir", str(tmp_path / "dl"),
        "--voice", "bf_emma@v0.19",
        "--default-version", "v0.19",
        "--device", "cpu",
        "--speed", "1.5",
        "--samples-per-chunk", "512",
        "--no-streaming",
        "--max-loaded-models", "1",
        "--max-text-length", "2000",
        "--first-clause-chars", "0",
        "--hub-url", "http://mirror.local/hf",
        "--v1-repo", "me/kokoro",
        "--v1-revision", "v1",
        "--v019-repo", "me/legacy",
        "--v019-revision", "abc123",
        "--v1-model-sha256", "a" * 64,
        "--v019-model-sha256", "b" * 64,
        "--offline",
        "--update-voices",
        "--download-wait", "5",
        "--max-connections", "8",
        "--max-queued-requests", "4",
        "--max-wait", "30",
        "--idle-timeout", "15",
        "--zeroconf", "kitchen",
        "--zeroconf-host", "10.0.0.5",
        "--debug",
        "--log-format", "%(message)s",
    ]  # fmt: skip
    settings = parse_settings(argv, NO_ENV)
    assert settings == Settings(
        uri="tcp://127.0.0.1:10300",
        data_dirs=(tmp_path / "one", tmp_path / "two"),
        download_dir=tmp_path / "dl",
        voice="bf_emma@v0.19",
        default_version="v0.19",
        device="cpu",
        speed=1.5,
        samples_per_chunk=512,
        streaming=False,
        max_loaded_models=1,
        max_text_length=2000,
        first_clause_chars=0,
        hub_url="http://mirror.local/hf",
        v1_repo="me/kokoro",
        v1_revision="v1",
        v019_repo="me/legacy",
        v019_revision="abc123",
        v1_model_sha256="a" * 64,
        v019_model_sha256="b" * 64,
        offline=True,
        update_voices=True,
        download_wait=5,
        max_connections=8,
        max_queued_requests=4,
        max_wait=30,
        idle_timeout=15,
        zeroconf="kitchen",
        zeroconf_host="10.0.0.5",
        debug=True,
        log_format="%(message)s",
        config=None,
    )


def test_no_flags_gives_defaults() -> None:
    settings = parse_settings([], NO_ENV)
    assert settings.uri == "tcp://0.0.0.0:10200"
    assert settings.streaming is True
    assert settings.zeroconf is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),
        (["--zeroconf"], ""),
        (["--zeroconf", "Living room"], "Living room"),
        (["--zeroconf", "--debug"], ""),
    ],
)
def test_zeroconf_flag(argv: list[str], expected: str | None) -> None:
    assert parse_settings(argv, NO_ENV).zeroconf == expected


def test_command_line_beats_environment_and_file(tmp_path: Path) -> None:
    path = tmp_path / "options.json"
    path.write_text('{"speed": 0.8, "voice": "am_adam"}', encoding="utf-8")
    environ = {"WYOMING_KOKORO_SPEED": "0.9", "WYOMING_KOKORO_DEVICE": "cpu"}
    settings = parse_settings(["--config", str(path), "--speed", "1.7"], environ)
    assert (settings.speed, settings.device, settings.voice) == (1.7, "cpu", "am_adam")
    settings = parse_settings(["--config", str(path)], environ)
    assert settings.speed == 0.9


def test_parse_settings_bad_value_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_settings(["--max-loaded-models", "3"], NO_ENV)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "wyoming-kokoro: error: argument --max-loaded-models: 3 is out of range; "
        "expected a whole number from 1 to 2\n"
    )


def test_parser_flags_match_settings() -> None:
    """No setting lacks a flag and no flag sets something that is not a setting."""
    dests = {
        action.dest for action in build_parser()._actions if action.dest not in ("help", "version")
    }
    assert dests == set(OPTION_NAMES)
