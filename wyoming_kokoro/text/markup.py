"""Streaming-safe removal of Markdown and other markup from LLM replies, before G2P.

An LLM's reply is written for a screen: ``**bold**``, ``## headings``, bullet lists, tables,
links, fenced code and emoji. Read literally, a voice says "asterisk asterisk" or garbles a URL
in brackets. This module turns that markup into plain text a listener wants to hear, on a stream
cut at arbitrary points (Home Assistant sends ``synthesize-chunk`` events mid-word).

What it does (each rule is pinned down by ``tests/test_text_frontend.py``):

* Emphasis (``*``, ``**``, ``_``, ``__``), strikethrough markers (``~~``), inline-code backticks
  and brackets are markup, not content: removed, the text inside kept. An underscore inside a
  word (``living_room``) is content and kept (the normaliser reads it as a space).
* Headings, list items (``-``, ``*``, ``+``, ``•``, ``1.``, ``2)``, task boxes ``[ ]``) and
  table rows lose their markers and become sentences of their own: the line ends with ``.``
  unless it already ends in punctuation, and a blank line separates it from its neighbours, so
  the sentence splitter (:mod:`.sentences`, which treats a blank line as a boundary) cuts there
  even though the markers it would have recognised are gone. A line that is bold from end to
  end (``**Forecast**``), which LLMs use as a heading, is treated the same way.
* LLMs do not hard-wrap prose, so a line break is meant: a line that ends without punctuation
  gets a full stop when the next line starts with anything but a lowercase letter
  ("Kitchen → 21°C" / "Bedroom → 19°C" are two sentences); a lowercase start stays a soft
  wrap, and the newline is kept either way for the sentence splitter.
* Tables: cells are read separated by commas, one row per sentence; the ``|---|`` row goes.
* Links ``[text](url)`` and images ``![alt](url)``: the text is read, the target dropped.
  Autolinks ``<https://...>`` keep the address (the normaliser reads it); HTML tags go.
* Fenced code blocks are dropped whole: a listener cannot use code read aloud, and "code
  omitted" spoken in the middle of an answer is noise. The reply's own lead-in ("Add this to
  your configuration:") already says there is code on the screen. Inline code keeps its text.
* Block-quote markers and thematic breaks (``---``) go; the quoted text is read.
* Emoji and pictographs (``So`` symbols, variation selectors, joiners, skin tones, keycaps,
  private-use characters) are dropped; letters of every script, digits, punctuation, currency
  and maths signs, and ``° ℃ ℉`` (the normaliser reads them) are kept. Arrows and mid-line
  bullets (``→ • ·``) become a comma: they separate things that a pause should separate.

Nothing is lost silently: dropped code blocks, link targets, HTML tags and emoji are logged at
debug level (emoji once per stream, at ``flush``).

Streaming: ``feed`` returns text that more input cannot change and holds back only what a later
character could still change: the start of a line until its marker is known, a run of ``*``,
``_``, ``~`` or backticks until it ends, a ``]`` until we know whether ``(`` follows, an HTML
tag until its ``>``, a table row until its newline, and pending whitespace/newlines (which
must not be emitted before we know what follows them). Any chunking of a text gives exactly the
output of :func:`clean_markup` on the whole text. Each call resumes where the last one stopped;
only the held-back tail (a few characters, or one table row) is looked at again.
"""

from __future__ import annotations

import logging
import re
import unicodedata

__all__ = ["MarkupCleaner", "clean_markup", "drop_pictographs"]

_LOGGER = logging.getLogger(__name__)

# Modes of the scanner.
_LINE_START = 0  # at the start of a line: a marker may follow
_INLINE = 1  # ordinary text
_CODE_SPAN = 2  # inside `...`
_LINK_TARGET = 3  # inside the (url) of [text](url)
_FENCE_INFO = 4  # rest of the opening ``` line
_FENCE_LINE_START = 5  # start of a line inside a code block
_FENCE_BODY = 6  # a code line
_FENCE_CLOSE = 7  # after a possible closing fence, before its newline
_TABLE_ROW = 8  # a table row, held until its newline

_NEWLINE = "\n"
_SPACE = " \t\f\v\u00a0\u1680\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
_LINE_SEPARATORS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# Punctuation a structural line may already end with (no "." is added after it).
_LINE_ENDERS = ".!?…:;,。！？｡、，；：।॥؟۔"
# A comma after these would be doubled punctuation.
_NO_PAUSE_AFTER = _LINE_ENDERS + "-–—([{\"'“‘«"
_BULLETS = "-*+•"
_KEPT_SYMBOLS = "°℃℉"
_PAUSE_SYMBOLS = frozenset("•·‣◦▪▫▸▹►▻⁃∙➔➜➝➞➟➠➡➢➣➤➥➦➧➨➩➪➫➬➭➮➯➱➲➳➴➵➶➷➸➹➺➻➼➽➾|")
# Invisible characters that only shape an emoji: dropped without a log line of their own.
_EMOJI_FORMAT = frozenset("\u200d\ufe0e\ufe0f\u20e3")
_TASK_BOXES = ("[ ] ", "[x] ", "[X] ")
_MAX_TAG = 200
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>\n]*)?/?>")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:|www\.)[^\s<>]+|[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)>")
_BREAK_TAGS = frozenset({"br", "p", "div", "li", "tr", "td", "th", "hr"})
_TABLE_SEPARATOR_CELL = re.compile(r"\s*:?-+:?\s*")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _is_arrow(code: int) -> bool:
    return 0x2190 <= code <= 0x21FF or 0x27F0 <= code <= 0x27FF or 0x2900 <= code <= 0x297F


def _classify(char: str) -> str:
    """'keep', 'pause' (read as a comma), 'format' (drop quietly) or 'drop' (log it)."""
    if char in _PAUSE_SYMBOLS:
        return "pause"
    if char in _EMOJI_FORMAT or 0xE0020 <= ord(char) <= 0xE007F:  # emoji tag characters
        return "format"
    if char == "*":
        return "drop"
    category = unicodedata.category(char)
    major = category[0]
    code = ord(char)
    if _is_arrow(code):
        return "pause"
    if major in "LNPZ":
        return "keep"
    if major == "M":
        # Combining accents and vowel signs (é, हिं) are letters; variation selectors and
        # the keycap are emoji.
        if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or category == "Me":
            return "format"
        return "keep"
    if major == "S":
        if char in _KEPT_SYMBOLS:
            return "keep"
        if category == "So":
            return "drop"
        if 0x1F3FB <= code <= 0x1F3FF:  # skin-tone modifiers
            return "format"
        return "keep"  # Sm (+ = < ×), Sc ($ € £), Sk (^ `)
    if category == "Cf" or category == "Cc":
        return "format"
    return "drop"  # private use, unassigned, surrogates


def drop_pictographs(text: str) -> str:
    """Remove emoji and pictographs from finished text (no Markdown handling)."""
    out: list[str] = []
    for char in text:
        kind = _classify(char)
        if kind == "keep" or char.isspace():
            out.append(char)
        elif kind == "pause":
            out.append(",")
        elif kind == "drop":
            out.append(" ")
    return "".join(out)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF


def _run_end(buf: str, i: int, char: str) -> int:
    """Index just past the run of ``char`` that starts at ``i``."""
    j = i
    n = len(buf)
    while j < n and buf[j] == char:
        j += 1
    return j


class MarkupCleaner:
    """Strip Markdown from a stream of text chunks; see the module docstring for the rules.

    Use one instance per stream: ``feed`` each chunk, then ``flush`` once at the end. After
    ``flush`` the cleaner is fresh and can be reused.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._buf = ""
        self._mode = _LINE_START
        self._out: list[str] = []
        # Output shaping.
        self._newlines = 0  # newlines owed before the next visible character (0, 1 or 2)
        self._space = False  # a space is owed before the next visible character
        self._gap = False  # a dropped emoji stood here: a space only between two words
        self._emitted = False  # anything visible emitted in this stream
        self._line_text = False  # anything visible emitted on this line
        self._last = ""  # the last visible character emitted
        self._open_line = False  # the last line ended without punctuation
        # Line state.
        self._structural = False  # heading, list item or table row
        self._line_first = ""  # first raw character of the line's text
        self._prev_raw = ""  # last raw character consumed (inline)
        self._prev_raw_visible = ""  # last raw non-space character consumed (inline)
        self._brackets = 0
        # Spans and blocks.
        self._ticks = 0
        self._target_depth = 0
        self._target: list[str] = []
        self._fence_char = ""
        self._fence_len = 0
        self._fence_info: list[str] = []
        self._fence_dropped = 0
        self._table_scan = 0
        self._dropped_symbols: list[str] = []

    # -- public API ----------------------------------------------------------------------

    def feed(self, chunk: str) -> str:
        """Add a chunk; return the cleaned text that no later input can change."""
        if not chunk:
            return ""
        self._buf += chunk
        stop = self._process(self._buf, 0, final=False)
        self._buf = self._buf[stop:]
        if self._mode == _TABLE_ROW:
            self._table_scan -= stop
        return self._take()

    def flush(self) -> str:
        """End of stream: return the rest of the cleaned text and reset."""
        self._process(self._buf, 0, final=True)
        if self._mode in (_FENCE_INFO, _FENCE_LINE_START, _FENCE_BODY, _FENCE_CLOSE):
            self._log_fence(closed=False)
        elif self._mode == _LINK_TARGET:
            self._log_target()
        self._end_line()
        if self._dropped_symbols:
            _LOGGER.debug(
                "Markup cleanup dropped %d emoji/symbols: %s",
                len(self._dropped_symbols),
                " ".join(self._dropped_symbols),
            )
        out = self._take()
        self._reset()
        return out

    # -- output --------------------------------------------------------------------------

    def _take(self) -> str:
        text = "".join(self._out)
        self._out.clear()
        return text

    def _visible(self, text: str) -> None:
        """Emit visible text, preceded by whatever whitespace is owed."""
        if self._newlines:
            if self._emitted:
                if self._open_line and (self._newlines > 1 or not text[0].islower()):
                    self._out.append(self._full_stop())
                self._out.append(_NEWLINE * self._newlines)
            self._newlines = 0
            self._open_line = False
        elif self._line_text and (self._space or (self._gap and self._between_words(text[0]))):
            self._out.append(" ")
        self._space = self._gap = False
        self._out.append(text)
        self._emitted = self._line_text = True
        self._last = text[-1]

    def _put(self, char: str) -> None:
        """Emit one content character, dropping emoji and turning arrows into pauses."""
        kind = _classify(char)
        if kind == "keep":
            self._visible(char)
        elif kind == "pause":
            self._pause()
        elif kind == "drop":
            self._dropped_symbols.append(char)
            self._gap = True
        # "format": nothing

    def _between_words(self, char: str) -> bool:
        """ "Sunny🌤️today" needs a space where the emoji was; "晴れです🌞。" and "job🎉!" do not."""
        return (
            char.isalnum()
            and self._last.isalnum()
            and not _is_cjk(char)
            and not _is_cjk(self._last)
        )

    def _pause(self) -> None:
        if self._line_text and self._last not in _NO_PAUSE_AFTER:
            self._out.append(",")
            self._last = ","

    def _blank_line(self) -> None:
        """Owe a blank line: a boundary the sentence splitter always honours."""
        self._newlines = 2

    def _end_line(self) -> None:
        """The current line ends: close a structural line as a sentence of its own."""
        whole_line_bold = (
            self._line_first in "*_"
            and self._line_first != ""
            and self._prev_raw_visible in ("*", "_")
        )
        if (self._structural or whole_line_bold) and self._line_text:
            if self._last not in _LINE_ENDERS:
                self._out.append(self._full_stop())
            self._blank_line()
        elif self._line_text:
            self._newlines = max(self._newlines, 1)
            self._open_line = self._last not in _LINE_ENDERS
        elif self._emitted:
            # An empty line after text: a paragraph break.
            self._newlines = max(self._newlines, 1) if self._structural else 2
        self._space = self._gap = False
        self._line_text = False
        self._structural = False
        self._line_first = self._prev_raw = self._prev_raw_visible = ""
        self._brackets = 0

    def _full_stop(self) -> str:
        stop = "。" if _is_cjk(self._last) else "."
        self._last = stop
        return stop

    def _begin_block(self) -> None:
        """A heading, list item or table row starts: separate it from what came before."""
        self._structural = True
        if self._emitted:
            self._blank_line()

    # -- scanner -------------------------------------------------------------------------

    def _process(self, buf: str, i: int, final: bool) -> int:
        """Consume ``buf`` from ``i``; return where we stopped (waiting for more input)."""
        n = len(buf)
        while i < n:
            mode = self._mode
            if mode == _INLINE:
                step = self._inline(buf, i, final)
            elif mode == _LINE_START:
                step = self._line_start(buf, i, final)
            elif mode == _CODE_SPAN:
                step = self._code_span(buf, i, final)
            elif mode == _LINK_TARGET:
                step = self._link_target(buf, i)
            elif mode == _TABLE_ROW:
                step = self._table_row(buf, i, final)
            else:
                step = self._fence(buf, i, final)
            if step is None:
                return i
            i = step
        return i

    def _line_start(self, buf: str, i: int, final: bool) -> int | None:
        n = len(buf)
        j = i
        while j < n and buf[j] in _SPACE:
            j += 1
        if j == n:
            return None if not final else n
        char = buf[j]
        if char == ">":  # block quote: drop the marker, classify the rest of the line
            j += 1
            if j < n and buf[j] == " ":
                j += 1
            return j
        if char == "#":
            k = _run_end(buf, j, "#")
            if k == n and not final:
                return None
            if k - j <= 6 and (k == n or buf[k] in _SPACE or buf[k] == _NEWLINE):
                self._begin_block()
                self._mode = _INLINE
                return k
        elif char in "`~":
            k = _run_end(buf, j, char)
            if k == n and not final:
                return None
            if k - j >= 3:
                self._open_fence(char, k - j)
                return k
        elif char == "|":
            self._begin_block()
            self._mode = _TABLE_ROW
            self._table_scan = j
            return j
        elif char in "-*_=+•":
            verdict = self._thematic_break(buf, j, final)
            if verdict is None:
                return None
            if verdict >= 0:
                # A rule or a setext underline: a paragraph break, nothing to read.
                if self._emitted:
                    self._blank_line()
                self._mode = _INLINE
                return verdict
            if char in _BULLETS:
                if j + 1 == n:
                    return None if not final else self._inline_from(j)
                if buf[j + 1] in _SPACE:
                    self._begin_block()
                    return self._after_marker(buf, j + 1, final)
        elif "0" <= char <= "9":
            k = j
            while k < n and "0" <= buf[k] <= "9" and k - j <= 3:
                k += 1
            if k == n:
                return None if not final else self._inline_from(j)
            if k - j <= 3 and buf[k] in ".)":
                if k + 1 == n:
                    return None if not final else self._inline_from(j)
                if buf[k + 1] in _SPACE:
                    self._begin_block()
                    return self._after_marker(buf, k + 1, final)
        return self._inline_from(j)

    def _inline_from(self, j: int) -> int:
        self._mode = _INLINE
        return j

    def _after_marker(self, buf: str, j: int, final: bool) -> int | None:
        """Skip the spaces after a list marker and an optional task box ``[ ]``/``[x]``."""
        n = len(buf)
        while j < n and buf[j] in _SPACE:
            j += 1
        rest = buf[j : j + 4]
        for box in _TASK_BOXES:
            if rest == box:
                j += 4
                break
            if not final and len(rest) < 4 and box.startswith(rest):
                return None  # may still become a task box
        self._mode = _INLINE
        return j

    def _thematic_break(self, buf: str, j: int, final: bool) -> int | None:
        """Index of the newline ending a ``---``/``***``/``===`` line, -1 if not one, None: wait."""
        n = len(buf)
        marker = buf[j]
        if marker not in "-*_=":
            return -1
        count = 0
        k = j
        while k < n and buf[k] != _NEWLINE:
            char = buf[k]
            if char == marker:
                count += 1
            elif char not in _SPACE:
                return -1
            k += 1
        if k == n and not final:
            return None
        return k if count >= 3 else -1

    def _open_fence(self, char: str, length: int) -> None:
        self._fence_char = char
        self._fence_len = length
        self._fence_info = []
        self._fence_dropped = 0
        if self._emitted:
            self._blank_line()
        self._mode = _FENCE_INFO

    def _log_fence(self, closed: bool) -> None:
        info = "".join(self._fence_info).strip()
        _LOGGER.debug(
            "Markup cleanup dropped a%s code block%s (%d characters)",
            "" if closed else "n unclosed",
            f" ({info})" if info else "",
            self._fence_dropped,
        )

    def _fence(self, buf: str, i: int, final: bool) -> int | None:
        n = len(buf)
        mode = self._mode
        if mode == _FENCE_INFO:
            end = buf.find(_NEWLINE, i)
            if end < 0:
                self._fence_info.append(buf[i:])
                return n
            self._fence_info.append(buf[i:end])
            self._mode = _FENCE_LINE_START
            return end + 1
        if mode == _FENCE_LINE_START:
            j = i
            while j < n and buf[j] in _SPACE:
                j += 1
            if j == n:
                return None if not final else n
            if buf[j] == self._fence_char:
                k = _run_end(buf, j, self._fence_char)
                if k == n and not final:
                    return None
                if k - j >= self._fence_len:
                    self._mode = _FENCE_CLOSE
                    return k
            self._mode = _FENCE_BODY
            return i
        if mode == _FENCE_BODY:
            end = buf.find(_NEWLINE, i)
            if end < 0:
                self._fence_dropped += n - i
                return n
            self._fence_dropped += end + 1 - i
            self._mode = _FENCE_LINE_START
            return end + 1
        # _FENCE_CLOSE: only whitespace may follow a closing fence.
        char = buf[i]
        if char == _NEWLINE:
            self._log_fence(closed=True)
            self._end_line()
            if self._emitted:
                self._blank_line()
            self._mode = _LINE_START
            return i + 1
        if char in _SPACE or char == "\r":
            return i + 1
        self._mode = _FENCE_BODY  # "```yaml" inside a block: more code
        return i

    def _table_row(self, buf: str, i: int, final: bool) -> int | None:
        n = len(buf)
        end = buf.find(_NEWLINE, max(i, self._table_scan))
        if end < 0:
            if not final:
                self._table_scan = n
                return None
            end = n
        row = buf[i:end].strip()
        cells = [cell.strip() for cell in _CELL_SPLIT.split(row)]
        if cells and not cells[0]:
            cells = cells[1:]
        if cells and not cells[-1]:
            cells = cells[:-1]
        self._mode = _INLINE
        if cells and all(_TABLE_SEPARATOR_CELL.fullmatch(cell) for cell in cells):
            return end  # the |---|---| row: structure only
        text = ", ".join(cell.replace("\\|", "|") for cell in cells if cell)
        if text:
            self._process(text, 0, final=True)
            self._mode = _INLINE
            self._ticks = self._target_depth = 0
        return end

    def _inline(self, buf: str, i: int, final: bool) -> int | None:
        n = len(buf)
        char = buf[i]
        if char == _NEWLINE or char in _LINE_SEPARATORS:
            self._end_line()
            self._mode = _LINE_START
            return i + 1
        if char in _SPACE or char == "\r":
            if self._line_text:
                self._space = True
            self._prev_raw = char
            return i + 1
        if not self._line_first:
            self._line_first = char
        if char == "*" or char == "~" or char == "_" or char == "`":
            k = _run_end(buf, i, char)
            if k == n and not final:
                return None
            run = k - i
            if char == "`":
                self._ticks = run
                self._mode = _CODE_SPAN
            elif char == "~" and run == 1:
                self._visible("~")
            elif char == "_" and self._prev_raw.isalnum() and k < n and buf[k].isalnum():
                self._visible(buf[i:k])  # living_room: part of a word
            self._prev_raw = self._prev_raw_visible = char
            return k
        self._prev_raw = self._prev_raw_visible = char
        if char == "[":
            self._brackets += 1
            return i + 1
        if char == "]":
            if i + 1 == n and not final:
                return None
            if self._brackets and i + 1 < n and buf[i + 1] == "(":
                self._brackets -= 1
                self._mode = _LINK_TARGET
                self._target_depth = 1
                self._target = []
                return i + 2
            self._brackets = max(0, self._brackets - 1)
            return i + 1
        if char == "!":
            if i + 1 == n and not final:
                return None
            if i + 1 < n and buf[i + 1] == "[":
                return i + 1  # image: read its alt text
            self._visible("!")
            return i + 1
        if char == "\\":
            if i + 1 == n and not final:
                return None
            if i + 1 < n and buf[i + 1] in "\\`*_{}[]()#+-.!|~<>":
                self._put(buf[i + 1])
                return i + 2
            return i + 1
        if char == "<":
            return self._angle(buf, i, final)
        self._put(char)
        return i + 1

    def _angle(self, buf: str, i: int, final: bool) -> int | None:
        """``<``: an autolink (keep its address), an HTML tag (drop) or a less-than sign."""
        n = len(buf)
        close = buf.find(">", i + 1, i + _MAX_TAG)
        if close < 0:
            window = buf[i + 1 : i + _MAX_TAG]
            could_be_tag = (
                not final
                and n - i < _MAX_TAG
                and (not window or window[0].isalpha() or window[0] == "/")
                and _NEWLINE not in window
                and "<" not in window
            )
            if could_be_tag:
                return None
            self._visible("<")
            return i + 1
        candidate = buf[i : close + 1]
        link = _AUTOLINK.fullmatch(candidate)
        if link:
            for char in link.group(1):
                self._put(char)
            return close + 1
        tag = _TAG.fullmatch(candidate)
        if tag:
            _LOGGER.debug("Markup cleanup dropped HTML tag %r", candidate)
            if tag.group(1).lower() in _BREAK_TAGS and self._line_text:
                self._space = True
            return close + 1
        self._visible("<")
        return i + 1

    def _code_span(self, buf: str, i: int, final: bool) -> int | None:
        n = len(buf)
        char = buf[i]
        if char == _NEWLINE or char in _LINE_SEPARATORS:
            self._mode = _INLINE  # an unclosed span ends with its line
            return i
        if char == "`":
            k = _run_end(buf, i, "`")
            if k == n and not final:
                return None
            if k - i == self._ticks:
                self._mode = _INLINE
            self._prev_raw = self._prev_raw_visible = "`"
            return k
        self._prev_raw = char
        if char in _SPACE or char == "\r":
            if self._line_text:
                self._space = True
            return i + 1
        self._prev_raw_visible = char
        self._put(char)
        return i + 1

    def _link_target(self, buf: str, i: int) -> int:
        n = len(buf)
        j = i
        while j < n:
            char = buf[j]
            if char == _NEWLINE:
                self._target.append(buf[i:j])
                self._log_target()
                self._mode = _INLINE
                return j
            if char == "(":
                self._target_depth += 1
            elif char == ")":
                self._target_depth -= 1
                if self._target_depth == 0:
                    self._target.append(buf[i:j])
                    self._log_target()
                    self._mode = _INLINE
                    self._prev_raw = self._prev_raw_visible = ")"
                    return j + 1
            j += 1
        self._target.append(buf[i:n])
        return n

    def _log_target(self) -> None:
        _LOGGER.debug("Markup cleanup dropped link target %r", "".join(self._target))
        self._target = []


def clean_markup(text: str) -> str:
    """Clean a whole text: exactly what feeding it in any chunks and flushing gives."""
    cleaner = MarkupCleaner()
    return cleaner.feed(text) + cleaner.flush()
