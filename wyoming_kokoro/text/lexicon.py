"""A user lexicon: words and names the G2P gets wrong, with the pronunciation to use instead.

The file is YAML (``--lexicon FILE``; in the add-on ``/share/kokoro/lexicon.yaml``)::

    en:                       # every English voice (en-us and en-gb)
      Kokoro: /kˈOkəɹO/       # phonemes between slashes, in the model's own symbols
      Nguyen: win             # a respelling: plain text handed to the G2P instead
      HA: Home Assistant      # keys may be abbreviations ...
      New York City: /nˈu jˈɔɹk sˈɪɾi/   # ... or several words
    en-gb:                    # British voices only (overrides "en" for the same word)
      tomato: tom-ah-toe
    fr:                       # every French voice; "fr-fr" would do the same today
      Wi-Fi: oui-fi
    "*":                      # every language
      Kokoro: /kˈOkəɹO/

Why these rules:

* Sections are language tags as the voices report them (``en-us``, ``fr-fr``, ``pt-br`` ...),
  their primary subtag (``en``, ``pt``) or ``*``. The most specific section wins for a word, so
  a British override does not need a copy of the whole English list.
* A key is matched as a whole word, never inside a longer one ("HA" leaves "HAT" alone). A key
  written all in lowercase matches in any case ("kokoro" matches "Kokoro" and "KOKORO"); a key
  with a capital matches exactly, because capitals are what tell "US" from "us" or "HA" from
  "ha". Several words in a key match across any whitespace. The longest key wins where keys
  overlap ("New York City" before "New York"). Keys that begin or end in a script written
  without spaces (Chinese, Japanese, Thai ...) match anywhere, as those have no word gaps.
  Word characters are letters, digits, ``_`` and combining marks, so boundaries also hold for
  Devanagari and other scripts whose vowel signs are marks.
* Every key and value is read as text: ``HA: yes`` is the respelling "yes", not a boolean, and
  ``1984: nineteen eighty-four`` works. Nothing in the file is ever used as a path.
* A bad entry (no value, a list or mapping as a value, control characters, an unknown
  language, a duplicate) is logged as a warning with the file and line and skipped; the rest
  of the file still applies. A file that is not valid YAML is reported once and the last good
  version stays in force, so a half-saved edit never silences the lexicon. A missing file
  means an empty lexicon: the add-on always passes a path, and most users never create it.

Phoneme entries are checked against the model's symbol table where the phonemizer is built
(`wyoming_kokoro.models.g2p.lexicon_g2p`), since only that knows the table.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..models.catalogue import LANGUAGES

_LOGGER = logging.getLogger(__name__)

ANY_LANGUAGE = "*"
"""Section that applies to every language."""

CHECK_INTERVAL_S = 2.0
"""How often, at most, `LexiconFile` looks at the file's modification time and size."""

_NULL_TAG = "tag:yaml.org,2002:null"

_NO_SPACE_SCRIPTS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)
"""Scripts written without spaces between words: a key there cannot rely on word gaps."""


def known_languages() -> frozenset[str]:
    """Section names the file may use: each voice language, its primary subtag, and ``*``."""
    tags = {tag for tag, _name in LANGUAGES.values()}
    return frozenset({ANY_LANGUAGE, *tags, *(tag.split("-")[0] for tag in tags)})


def normalize_language(tag: str) -> str:
    """``EN_us`` -> ``en-us``: how people write tags differs more than what they mean."""
    return tag.strip().lower().replace("_", "-")


# -- entries and pieces -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One word of the lexicon and how to say it."""

    key: str
    """The word or words as written, whitespace collapsed to single spaces."""
    value: str
    """Phonemes (without the slashes) or a respelling, whitespace collapsed."""
    is_phonemes: bool
    """True if `value` is phonemes for the model; False if it is text for the G2P."""
    language: str
    """The section it came from (normalised tag, or ``*``)."""
    source: str
    """The file it came from, for messages."""
    line: int
    """1-based line of the key in `source`, for messages."""

    @property
    def where(self) -> str:
        """``file:line``, the prefix of every message about this entry."""
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class Text:
    """Text for the G2P: the user's text, with any respellings already substituted."""

    text: str


@dataclass(frozen=True)
class Phonemes:
    """Phonemes that bypass the G2P, and the words of the user's text they stand for."""

    phonemes: str
    word: str


Piece = Text | Phonemes


# -- matching ---------------------------------------------------------------------------------


def _is_word_char(char: str) -> bool:
    """Letters, digits, ``_`` and combining marks.

    Python's ``\\w`` has no marks, so without them a Hindi key ending before a vowel sign
    would match inside a longer word.
    """
    return char.isalnum() or char == "_" or unicodedata.category(char)[0] == "M"


def _needs_boundary(char: str) -> bool:
    """True if a key beginning or ending with `char` must stop at a word boundary there.

    Not for punctuation (nothing to run into) nor scripts written without word gaps.
    """
    if not _is_word_char(char):
        return False
    code = ord(char)
    return not any(low <= code <= high for low, high in _NO_SPACE_SCRIPTS)


@dataclass(frozen=True)
class _Key:
    """One entry as the matcher tries it at a position."""

    entry: Entry
    body: re.Pattern[str]
    """The key's words, any whitespace between them, case-insensitive if written lowercase."""
    bounded_before: bool
    bounded_after: bool

    @classmethod
    def of(cls, entry: Entry) -> _Key:
        key = entry.key
        body = r"\s+".join(re.escape(word) for word in key.split(" "))
        flags = re.IGNORECASE if key == key.lower() else 0
        return cls(
            entry, re.compile(body, flags), _needs_boundary(key[0]), _needs_boundary(key[-1])
        )


class Matcher:
    """Finds lexicon words in text and cuts the text into pieces around them.

    The text is scanned left to right; at each position the keys that can start with its
    character are tried longest first (exact-case keys before case-insensitive ones of the
    same length), and the first one that also ends on a word boundary wins. So "New York"
    still matches in "New York, not New York City" and "New Yorkers" matches nothing. A
    single big regex would do the same, but a boundary that knows combining marks makes its
    alternatives slow to compile and to run; this stays about linear in the text.
    """

    def __init__(self, entries: Iterable[Entry]) -> None:
        ordered = sorted(entries, key=lambda e: (-len(e.key), e.key == e.key.lower(), e.key))
        self.entries: tuple[Entry, ...] = tuple(ordered)
        self._by_first: dict[str, list[_Key]] = {}
        for entry in ordered:
            self._by_first.setdefault(entry.key[0].casefold(), []).append(_Key.of(entry))

    def _match_at(self, text: str, start: int) -> tuple[Entry, int] | None:
        """The entry whose key matches `text` at `start`, and where the match ends."""
        keys = self._by_first.get(text[start].casefold())
        if not keys:
            return None
        after_word = start > 0 and _is_word_char(text[start - 1])
        for key in keys:
            if key.bounded_before and after_word:
                continue
            match = key.body.match(text, start)
            if match is None:
                continue
            end = match.end()
            if key.bounded_after and end < len(text) and _is_word_char(text[end]):
                continue
            return key.entry, end
        return None

    def apply(self, text: str) -> list[Piece]:
        """`text` as pieces: text for the G2P (as long as possible) and phonemes.

        Respellings are substituted into the surrounding text rather than cut out, so the G2P
        still sees the whole sentence; only phoneme entries cut it. Text with no lexicon word
        comes back as a single `Text` piece, unchanged.
        """
        pieces: list[Piece] = []
        pending: list[str] = []
        last = position = 0
        while self._by_first and position < len(text):
            found = self._match_at(text, position)
            if found is None:
                position += 1
                continue
            entry, end = found
            pending.append(text[last:position])
            if entry.is_phonemes:
                if "".join(pending):
                    pieces.append(Text("".join(pending)))
                pending = []
                pieces.append(Phonemes(entry.value, text[position:end]))
            else:
                pending.append(entry.value)
            last = position = end
        pending.append(text[last:])
        if "".join(pending) or not pieces:
            pieces.append(Text("".join(pending)))
        return pieces


# -- the lexicon ------------------------------------------------------------------------------


class Lexicon:
    """Entries per language section, as read from one version of the file. Immutable."""

    def __init__(self, sections: Mapping[str, Mapping[str, Entry]], source: str = "") -> None:
        self.sections = {tag: dict(entries) for tag, entries in sections.items()}
        self.source = source
        self._matchers: dict[str, Matcher] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.sections.values())

    def for_language(self, tag: str) -> list[Entry]:
        """The entries that apply to a voice language: ``*``, then primary, then full tag.

        A more specific section replaces a less specific one's entry for the same key.
        """
        tag = normalize_language(tag)
        merged: dict[str, Entry] = {}
        for section in (ANY_LANGUAGE, tag.split("-")[0], tag):
            merged.update(self.sections.get(section, {}))
        return list(merged.values())

    def apply(self, text: str, tag: str) -> list[Piece]:
        """`text` cut into pieces for a voice language (see `Matcher.apply`)."""
        tag = normalize_language(tag)
        if tag not in self._matchers:
            self._matchers[tag] = Matcher(self.for_language(tag))
        return self._matchers[tag].apply(text)


EMPTY = Lexicon({})


# -- reading the file -------------------------------------------------------------------------


class LexiconError(ValueError):
    """The file as a whole cannot be used (not YAML, not a mapping); `line` is 1-based."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _clean(raw: str) -> str | None:
    """`raw` with whitespace collapsed, or None if empty or holding control characters."""
    text = " ".join(raw.split())
    if not text or any(unicodedata.category(char) == "Cc" for char in text):
        return None
    return text


def parse_lexicon(text: str, source: str) -> Lexicon:
    """Parse lexicon YAML; bad entries are logged with their line and skipped.

    Raises `LexiconError` only when the file as a whole is unusable. We compose YAML nodes
    rather than load values so that every key keeps its line number and every scalar stays the
    text the user typed (no booleans, dates or numbers).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        raise LexiconError(f"not valid YAML: {err}", mark.line + 1 if mark else None) from err
    except RecursionError as err:  # PyYAML's composer recurses once per nesting level
        raise LexiconError("nested too deeply to be a lexicon", None) from err
    if root is None:
        return Lexicon({}, source)
    if not isinstance(root, yaml.MappingNode):
        raise LexiconError(
            "expected language sections (en:, fr-fr:, ...) at the top", root.start_mark.line + 1
        )
    known = known_languages()
    sections: dict[str, dict[str, Entry]] = {}
    section_lines: dict[str, int] = {}

    def skip(node: yaml.Node, problem: str) -> None:
        _LOGGER.warning("%s:%d: %s; skipped", source, node.start_mark.line + 1, problem)

    for tag_node, body in root.value:
        if not isinstance(tag_node, yaml.ScalarNode):
            skip(tag_node, "a language section must be named by a tag such as en or fr-fr")
            continue
        tag = normalize_language(tag_node.value)
        if tag not in known:
            names = ", ".join(sorted(known))
            skip(tag_node, f"unknown language {tag_node.value!r} (known: {names})")
            continue
        if tag in section_lines:
            skip(tag_node, f"language {tag!r} appears twice (first on line {section_lines[tag]})")
            continue
        section_lines[tag] = tag_node.start_mark.line + 1
        if not isinstance(body, yaml.MappingNode):
            skip(tag_node, f"section {tag!r} must hold 'word: pronunciation' lines")
            continue
        entries = sections.setdefault(tag, {})
        for key_node, value_node in body.value:
            entry = _entry(key_node, value_node, tag, source, entries, skip)
            if entry is not None:
                entries[entry.key] = entry
    return Lexicon(sections, source)


def _entry(
    key_node: yaml.Node,
    value_node: yaml.Node,
    tag: str,
    source: str,
    seen: Mapping[str, Entry],
    skip: Callable[[yaml.Node, str], None],
) -> Entry | None:
    """One checked entry, or None after reporting why it was skipped."""
    if not isinstance(key_node, yaml.ScalarNode):
        skip(key_node, "a word must be plain text")
        return None
    key = _clean(key_node.value)
    if key is None:
        skip(key_node, "empty word or a word with control characters")
        return None
    if key in seen:
        skip(key_node, f"{key!r} appears twice in {tag!r} (first on line {seen[key].line})")
        return None
    if not isinstance(value_node, yaml.ScalarNode):
        skip(key_node, f"{key!r}: the pronunciation must be text, not a list or mapping")
        return None
    raw = "" if value_node.tag == _NULL_TAG else value_node.value
    is_phonemes = len(raw) > 2 and raw.startswith("/") and raw.endswith("/")
    value = _clean(raw[1:-1] if is_phonemes else raw)
    if value is None:
        skip(key_node, f"{key!r}: no pronunciation, or one with control characters")
        return None
    return Entry(key, value, is_phonemes, tag, source, key_node.start_mark.line + 1)


class LexiconFile:
    """The lexicon in a file, reloaded when the file changes. Cheap to ask on every request.

    `current` looks at the file's modification time and size at most every `check_interval`
    seconds and re-parses only when they changed, so no watcher thread is needed and an
    unchanged file costs one ``stat`` every few seconds. It never raises: every problem is a
    warning, logged once per change of the file.
    """

    def __init__(
        self,
        path: Path,
        check_interval: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.check_interval = check_interval
        self._clock = clock
        self._lexicon = EMPTY
        self._stamp: tuple[int, int] | None = None
        self._checked_at: float | None = None
        self._missing_reported = False
        self._lock = threading.Lock()

    def current(self) -> Lexicon:
        """The lexicon in force now (reloading first if the file changed)."""
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self.check_interval:
                self._checked_at = now
                self._refresh()
            return self._lexicon

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except OSError as err:
            if not self._missing_reported:
                self._report_missing(err)
                self._missing_reported = True
            self._lexicon, self._stamp = EMPTY, None
            return
        self._missing_reported = False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            text = self.path.read_text(encoding="utf-8")
            lexicon = parse_lexicon(text, str(self.path))
        except (OSError, UnicodeDecodeError) as err:
            _LOGGER.warning("Lexicon %s unreadable (%s); keeping the previous one", self.path, err)
            return
        except LexiconError as err:
            line = f":{err.line}" if err.line is not None else ""
            _LOGGER.warning("%s%s: %s; keeping the previous lexicon", self.path, line, err)
            return
        self._lexicon = lexicon
        _LOGGER.info(
            "Lexicon %s: %d entries in %d sections", self.path, len(lexicon), len(lexicon.sections)
        )

    def _report_missing(self, err: OSError) -> None:
        """A file that was never there is the normal case (the add-on always passes a path),
        so that is INFO; one that went away or cannot be read is a WARNING."""
        if isinstance(err, FileNotFoundError) and self._lexicon is EMPTY:
            _LOGGER.info("No lexicon at %s (create it to correct pronunciations)", self.path)
        else:
            _LOGGER.warning("Lexicon %s not readable (%s); no lexicon in use", self.path, err)
