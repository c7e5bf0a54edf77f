"""Wyoming-protocol text-to-speech server for Kokoro-82M, v0.19 and v1.0 side by side."""

__version__ = "0.5.2"
