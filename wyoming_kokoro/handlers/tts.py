"""The Wyoming event handler: describe, one-shot synthesis and streamed synthesis.

Reading events and producing audio run as two tasks per connection: the read
loop (wyoming's `run`) only parses events and queues work, and a speaker task
renders queued text sentence by sentence. So `describe`, `ping` and incoming
`synthesize-chunk`s are handled at once even while audio is being made, and a
streamed reply is spoken while the rest of it is still arriving.

Protocol rules (as Home Assistant drives it):
- `synthesize` outside a stream: one audio-start, chunks, one audio-stop for the
  whole text; the first chunk goes out after the first sentence is rendered.
- `synthesize-start` … `synthesize-chunk`* … `synthesize-stop`: each complete
  sentence is sent as its own audio-start/chunks/audio-stop as soon as it is
  ready; after the stop, the rest is spoken and `synthesize-stopped` follows.
  The full-text `synthesize` copy HA sends for old servers inside an open
  stream is ignored (speaking it would double the audio).
- Bad input gets an `error` event, then the connection is closed; the server
  keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)

from ..engine import SentenceAudio, SpeechEngine
from ..errors import BadTextError, ProtocolError, ShuttingDownError, UserFacingError
from ..health import HEALTH_EVENT
from ..models.network import SAMPLE_RATE
from ..text.pipeline import TextPipeline, TextStream
from ..voices.selection import Style, VoiceSelection
from .framing import FrameLimits, SafeEventHandler
from .info import build_info
from .request_log import RequestLog

_LOGGER = logging.getLogger(__name__)

SAMPLE_WIDTH = 2
CHANNELS = 1


@dataclass(frozen=True)
class HandlerOptions:
    """Per-server settings the handler needs."""

    streaming: bool
    samples_per_chunk: int
    max_text_length: int
    first_clause_min_chars: int | None = None
    idle_timeout: float | None = None


@dataclass
class _Utterance:
    """Queued speech: a whole one-shot request, or one sentence of a stream.

    Its sentences are handed to the engine's scheduler as soon as they are known, so
    the next one renders while the previous one is being sent; `audio` holds their
    audio streams in order.
    """

    sentences: list[str]
    audio: list[SentenceAudio]
    log: RequestLog
    streamed: bool
    """A stream's sentence may hold nothing speakable (an emoji); a one-shot request may not."""


@dataclass
class _StreamEnd:
    """Queued marker: the stream's text is all spoken; send synthesize-stopped."""

    log: RequestLog | None = None


_Job = _Utterance | _StreamEnd


@functools.cache
def text_pipeline(language: str) -> TextPipeline:
    """The text pipeline of a language (markup cleanup, normalisation), built once."""
    return TextPipeline(language)


def _text_field(event: Event) -> str:
    """The event's `text`, which must be a string."""
    text = (event.data or {}).get("text")
    if not isinstance(text, str):
        raise ProtocolError(f"malformed {event.type} event: 'text' must be a string")
    return text


def _voice_field(event: Event) -> str | None:
    """The requested voice name, or None when the event names none."""
    voice = (event.data or {}).get("voice")
    if voice is None:
        return None
    name = voice.get("name") if isinstance(voice, dict) else voice
    if name is not None and not isinstance(name, str):
        raise ProtocolError(f"malformed {event.type} event: 'voice.name' must be a string")
    return name


class KokoroEventHandler(SafeEventHandler):
    """Serves one Wyoming connection."""

    def __init__(
        self,
        engine: SpeechEngine,
        options: HandlerOptions,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        self.engine = engine
        self.options = options
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._speaker: asyncio.Task[None] | None = None
        self._closed = False
        self._stopping = False
        # Open stream state (None when no stream is open).
        self._stream_voice: VoiceSelection | None = None
        self._stream_style: Style | None = None
        self._text_stream: TextStream | None = None
        self._stream_chars = 0
        self._stream_log: RequestLog | None = None
        # With streaming off, a client that streams anyway is served from its full-text copy.
        self._ignored_stream = False
        self.idle_timeout = options.idle_timeout
        self._pending = 0  # jobs queued or being spoken

    # -- connection state (for the frame reader) ------------------------------------

    @property
    def frame_limits(self) -> FrameLimits:
        """Frames big enough for the longest text this server accepts, and no bigger."""
        return FrameLimits.for_text_length(self.options.max_text_length)

    def busy(self) -> bool:
        """Audio is queued or being sent: the client is listening, not idle."""
        return self._pending > 0

    async def write_event(self, event: Event) -> None:
        await super().write_event(event)
        self.touch()

    # -- events ------------------------------------------------------------------

    async def handle_event(self, event: Event) -> bool:
        if self._closed:
            return False  # an error was sent or the client left: ignore what is still buffered
        try:
            return await self._dispatch(event)
        except UserFacingError as err:
            await self._fail(err)
        except ConnectionError:
            self._closed = True
        except Exception as err:
            _LOGGER.exception("Failed to handle %s", event.type)
            await self._fail(UserFacingError(f"internal error while handling {event.type}: {err}"))
        return False

    async def _dispatch(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(build_info(self.engine, self.options.streaming).event())
        elif event.type == HEALTH_EVENT:
            await self.write_event(Event(HEALTH_EVENT, self.engine.health_data()))
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif self._stopping and (
            SynthesizeStart.is_type(event.type)
            or (Synthesize.is_type(event.type) and self._stream_voice is None)
        ):
            raise ShuttingDownError("the server is stopping; try again in a moment")
        elif Synthesize.is_type(event.type):
            if self._stream_voice is None:
                await self._one_shot(event)
            else:
                _LOGGER.debug("Ignoring the full-text synthesize copy inside a stream")
        elif SynthesizeStart.is_type(event.type):
            await self._start_stream(event)
        elif SynthesizeChunk.is_type(event.type):
            self._stream_chunk(_text_field(event))
        elif SynthesizeStop.is_type(event.type):
            self._stop_stream()
        else:
            _LOGGER.debug("Ignoring unexpected event type %s", event.type)
        return True

    async def _one_shot(self, event: Event) -> None:
        text = _text_field(event)
        self._check_text(text)
        selection = self.engine.select(_voice_field(event))
        style = await self.engine.prepare_selection(selection)
        sentences = text_pipeline(selection.language).sentences(
            text, self.options.first_clause_min_chars
        )
        if not sentences:
            raise BadTextError("the text contains nothing that can be spoken")
        log = RequestLog(selection.name, selection.version, streamed=False, characters=len(text))
        self._enqueue(
            self._utterance(selection, style, sentences, log, streamed=False, new_request=True)
        )

    async def _start_stream(self, event: Event) -> None:
        if not self.options.streaming:
            # Not advertised, but a client may not have re-read describe: it also sends the
            # full text as `synthesize`, which is spoken; stop is answered with stopped.
            self._ignored_stream = True
            return
        if self._stream_voice is not None:
            raise ProtocolError("synthesize-start received while a stream is already open")
        selection = self.engine.select(_voice_field(event))
        self._stream_style = await self.engine.prepare_selection(selection)
        self._stream_voice = selection
        self._text_stream = text_pipeline(selection.language).stream(
            self.options.first_clause_min_chars
        )
        self._stream_chars = 0
        self._stream_sentences = 0
        self._stream_log = RequestLog(selection.name, selection.version, streamed=True)

    def _stream_chunk(self, text: str) -> None:
        if self._ignored_stream:
            return
        if self._text_stream is None:
            raise ProtocolError("synthesize-chunk received without synthesize-start")
        self._stream_chars += len(text)
        if self._stream_log is not None:
            self._stream_log.characters = self._stream_chars
        if self._stream_chars > self.options.max_text_length:
            raise BadTextError(
                f"streamed text exceeds the limit of {self.options.max_text_length} characters"
            )
        for sentence in self._text_stream.feed(text):
            self._enqueue_sentence(sentence)

    def _stop_stream(self) -> None:
        if self._ignored_stream:
            self._ignored_stream = False
            self._enqueue(_StreamEnd())
            return
        if self._text_stream is None:
            raise ProtocolError("synthesize-stop received without synthesize-start")
        for sentence in self._text_stream.flush():
            self._enqueue_sentence(sentence)
        self._enqueue(_StreamEnd(self._stream_log))
        self._stream_voice = self._stream_style = self._text_stream = None
        self._stream_log = None

    def _enqueue_sentence(self, sentence: str) -> None:
        assert self._stream_voice is not None and self._stream_style is not None
        assert self._stream_log is not None
        first = self._stream_sentences == 0
        self._stream_sentences += 1
        self._enqueue(
            self._utterance(
                self._stream_voice,
                self._stream_style,
                [sentence],
                self._stream_log,
                streamed=True,
                new_request=first,
            )
        )

    def _utterance(
        self,
        selection: VoiceSelection,
        style: Style,
        sentences: list[str],
        log: RequestLog,
        streamed: bool,
        new_request: bool,
    ) -> _Utterance:
        """Submit the sentences for rendering now (the first may be refused as busy)."""
        audio = [
            self.engine.submit(self, selection, style, sentence, new_request and index == 0)
            for index, sentence in enumerate(sentences)
        ]
        return _Utterance(sentences, audio, log, streamed)

    def _check_text(self, text: str) -> None:
        """Refuse empty text and text over the limit (the limit is never silently truncated)."""
        if not text.strip():
            raise BadTextError("text is empty; send the words to speak")
        if len(text) > self.options.max_text_length:
            raise BadTextError(
                f"text is {len(text)} characters long; the limit is "
                f"{self.options.max_text_length} (--max-text-length)"
            )

    # -- speaking ----------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        self._pending += 1
        self._jobs.put_nowait(job)
        if self._speaker is None:
            self._speaker = asyncio.create_task(self._speak_jobs(), name="kokoro speaker")

    async def _speak_jobs(self) -> None:
        try:
            while not self._closed:
                job = await self._jobs.get()
                try:
                    if isinstance(job, _StreamEnd):
                        await self.write_event(SynthesizeStopped().event())
                        if job.log is not None:
                            job.log.finish()
                    else:
                        await self._speak(job)
                finally:
                    self._pending -= 1
                    self._jobs.task_done()
        except UserFacingError as err:
            await self._fail(err)
        except (ConnectionError, asyncio.IncompleteReadError):
            _LOGGER.debug("Client went away while audio was being sent")
            self._close()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            _LOGGER.exception("Synthesis failed")
            await self._fail(UserFacingError(f"synthesis failed: {err}"))

    async def _speak(self, job: _Utterance) -> None:
        """Send the job's sentences in order, each piece of audio as soon as it is rendered.

        One audio-start/audio-stop pair wraps the whole job; the audio-start goes out
        with the first piece, so a job with nothing speakable sends no audio at all.
        """
        started = False
        for sentence, audio in zip(job.sentences, job.audio, strict=True):
            try:
                async for pcm in audio:
                    if self._closed:
                        return
                    if pcm.size == 0:
                        continue
                    if not started:
                        await self.write_event(
                            AudioStart(
                                rate=SAMPLE_RATE, width=SAMPLE_WIDTH, channels=CHANNELS
                            ).event()
                        )
                        started = True
                    if audio.started is not None:
                        job.log.waited(audio.started - audio.submitted)
                    began = time.perf_counter()
                    await self._send_audio(pcm.tobytes())
                    job.log.sent(pcm.size)
                    _LOGGER.debug(
                        "Send: %.2f s of audio in %.1f ms",
                        pcm.size / SAMPLE_RATE,
                        (time.perf_counter() - began) * 1000,
                    )
            except UserFacingError:
                raise
            except asyncio.CancelledError:
                raise
            except Exception:
                if not job.streamed:
                    raise
                # One odd sentence (a G2P crash on strange input) must not silence the
                # rest of a streamed reply.
                _LOGGER.exception("Skipping a sentence that could not be spoken: %r", sentence)
                continue
            if self._closed:
                return
        if started:
            await self.write_event(AudioStop().event())
            if not job.streamed:
                job.log.finish()
        elif not job.streamed:
            raise BadTextError("the text contains nothing that can be spoken")

    async def _send_audio(self, pcm: bytes) -> None:
        step = self.options.samples_per_chunk * SAMPLE_WIDTH * CHANNELS
        for offset in range(0, len(pcm), step):
            await self.write_event(
                AudioChunk(
                    rate=SAMPLE_RATE,
                    width=SAMPLE_WIDTH,
                    channels=CHANNELS,
                    audio=pcm[offset : offset + step],
                ).event()
            )

    # -- errors and disconnects --------------------------------------------------------

    async def _fail(self, err: UserFacingError) -> None:
        """Tell the client what went wrong, then close this connection only."""
        _LOGGER.warning("Request failed: %s", err)
        if not self._closed:
            with contextlib.suppress(ConnectionError):
                await self.write_event(Error(text=str(err), code=err.code).event())
        self._close()

    def _close(self) -> None:
        """Nothing more goes out on this connection: drop its queued work and close it."""
        self._closed = True
        self.engine.drop(self)
        self.writer.close()

    async def drain(self) -> None:
        """Wait until everything queued so far has been spoken (or the speaker stopped).

        Used when the client has finished sending but still reads, as with stdio://.
        """
        if self._speaker is None:
            return
        joined = asyncio.create_task(self._jobs.join())
        await asyncio.wait([joined, self._speaker], return_when=asyncio.FIRST_COMPLETED)
        joined.cancel()
        # drain() only waits above the high-water mark: let the transport empty its buffer
        # before the process exits, or the last events (audio-stop) are lost.
        transport = self.writer.transport
        for _ in range(1000):
            if transport.is_closing() or transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.01)

    async def finish(self, grace: float) -> None:
        """The server is stopping: speak what is queued for at most `grace` seconds, then close.

        New requests on this connection are refused meanwhile; a reply in progress
        (including an open stream's queued sentences) goes on until done or out of time.
        """
        self._stopping = True
        if grace > 0 and not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.drain(), grace)
        self._close()
        if self._speaker is not None:
            self._speaker.cancel()

    async def disconnect(self) -> None:
        self._closed = True
        self.engine.drop(self)
        if self._speaker is not None:
            self._speaker.cancel()
