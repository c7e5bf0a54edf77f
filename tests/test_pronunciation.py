"""What a listener hears from an LLM-style reply: Markdown and emoji are not read out, and the
user's lexicon changes how a word is said — through the real server, heard by Whisper."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ServerProcess, server_args, synthesize, transcribe


@pytest.fixture(scope="module")
def lexicon_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lexicon") / "lexicon.yaml"
    path.write_text("en:\n  Zorblax: kitchen\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lexicon_server(
    weights_dir: Path, lexicon_file: Path, tmp_path_factory
) -> Iterator[ServerProcess]:
    args = server_args(weights_dir, "--lexicon", str(lexicon_file))
    proc = ServerProcess(args).start(tmp_path_factory.mktemp("lexicon-server"))
    yield proc
    proc.stop()


@pytest.mark.slow
def test_markdown_reply_is_read_without_its_markup(
    lexicon_server: ServerProcess, transcriber
) -> None:
    reply = asyncio.run(
        synthesize(
            lexicon_server.uri, "## Lights\n\n- **Turn on** the `kitchen` lights 💡", "af_heart"
        )
    )
    assert reply.error is None, reply.error
    heard = transcribe(transcriber, reply.audio)
    assert "kitchen" in heard and "lights" in heard, heard
    for read_out in ("asterisk", "star", "hash", "bullet", "dash", "backtick"):
        assert read_out not in heard, heard


@pytest.mark.slow
def test_lexicon_respelling_is_heard_and_follows_the_file(
    lexicon_server: ServerProcess, lexicon_file: Path, transcriber
) -> None:
    reply = asyncio.run(synthesize(lexicon_server.uri, "Turn on the Zorblax lights.", "af_heart"))
    heard = transcribe(transcriber, reply.audio)
    assert "kitchen lights" in heard, heard

    lexicon_file.write_text("en:\n  Zorblax: garage\n", encoding="utf-8")
    later = time.time() + 5
    os.utime(lexicon_file, (later, later))  # a changed file, whatever the clock's resolution
    time.sleep(2.5)  # the file is looked at no more than every 2 s
    reply = asyncio.run(synthesize(lexicon_server.uri, "Turn on the Zorblax lights.", "af_heart"))
    heard = transcribe(transcriber, reply.audio)
    assert "garage lights" in heard, heard
