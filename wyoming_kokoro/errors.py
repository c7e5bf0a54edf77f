"""Errors whose message is meant for the user as is.

The CLI prints a `UserFacingError` as a one-line message instead of a traceback,
and the event handler turns one into a Wyoming `error` event. Anything else that
escapes is a bug and is logged with its traceback.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error caused by input, configuration or missing files, not by a bug."""

    code: str = "kokoro-error"


class ConfigError(UserFacingError):
    """A setting has a bad value; the message names the option and allowed values."""

    code = "bad-config"


class UnknownVoiceError(UserFacingError):
    """The requested voice is in neither version's catalogue nor on disk."""

    code = "unknown-voice"


class BadTextError(UserFacingError):
    """The text is empty, whitespace-only, or longer than the configured limit."""

    code = "bad-text"


class MissingFileError(UserFacingError):
    """A model or voice file is neither on disk nor downloadable now."""

    code = "missing-file"


class DownloadError(MissingFileError):
    """A download failed (HTTP error, refused connection, checksum mismatch)."""

    code = "download-failed"


class DownloadingError(MissingFileError):
    """A file the request needs is still downloading; the download goes on in the background."""

    code = "downloading"


class ModelLoadError(UserFacingError):
    """A checkpoint or voice pack exists but does not fit the version's network."""

    code = "model-load-failed"


class ProtocolError(UserFacingError):
    """Events arrived in an order the protocol does not allow."""

    code = "protocol-error"


class BadFrameError(UserFacingError):
    """Bytes on the wire that are not a Wyoming event (framing, not field semantics)."""

    code = "bad-frame"


class ModelBusyError(UserFacingError):
    """No model slot became free in time (all loaded models stayed in use)."""

    code = "model-busy"


class ShuttingDownError(UserFacingError):
    """The server is stopping and takes no new requests."""

    code = "shutting-down"


class BusyError(UserFacingError):
    """Too much synthesis is queued, or a request waited too long for its turn."""

    code = "busy"


class IdleTimeoutError(UserFacingError):
    """A connection sent nothing for too long while nothing was being spoken for it."""

    code = "idle-timeout"
