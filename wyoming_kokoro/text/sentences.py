"""Incremental, language-aware sentence splitting for streamed TTS text.

Home Assistant streams an LLM reply as ``synthesize-chunk`` events cut anywhere: mid-word,
mid-number, between "U." and "S.". To cut the time to first audio the server speaks each
sentence as soon as it is known to be complete, but a wrong cut is worse than a late one: it
puts a falling intonation and a pause in the middle of a sentence. So the splitter only cuts
where the text itself proves a boundary, and waits for more text whenever the answer depends
on characters that have not arrived yet ("3." could become "3.5"; "U." could become "U.S.").

Rules (what a listener notices; the tests pin each one down):

* A sentence ends at ``. ! ? …`` (or a run such as ``?!`` or ``...``), then optional closing
  quotes/brackets, then whitespace, then a plausible sentence start: anything but a lowercase
  letter or continuing punctuation (``, ; : ) -`` ...). Opening quotes/brackets (``" ( ¿ ¡``)
  before the start are skipped when looking at it.
* A lone ``.`` does not end a sentence after: a title or other word that precedes what it
  qualifies (Dr. Mr. Mrs. Prof. St. vs. approx. Sr. ... and the Spanish, French, Italian and
  Portuguese titles Kokoro speaks); an initialism (U.S., U.K., e.g., i.e.; a.m., p.m. and
  Ph.D. are the exceptions below); a single-letter initial (J. R. R. Tolkien; "I" is the
  pronoun, not an initial); No./Fig./Art./Vol./p./Jan. ... when a number follows ("No. 5",
  but "No. I disagree." splits); a bare number of at most three digits that opens the
  sentence or follows a colon ("1. Open the door", "Steps: 1. Open").
* Abbreviations that often close a sentence (etc., a.m., p.m., Inc., Ltd., Jr., Ph.D., et al.)
  are treated like ordinary words: they end a sentence when a capitalised word (or a digit)
  follows, and do not when a lowercase word does ("etc. are fruit" stays whole; "etc. Then"
  splits).
* Decimals (3.5, .5), times (7:15, 9.30), versions (v1.0.2), URLs, e-mail addresses and domains
  never split: a boundary needs whitespace after the terminator.
* CJK ``。！？｡`` and the danda ``। ॥`` and Arabic ``؟ ۔`` end a sentence with no space after
  them, together with any closing brackets (``」』）``) that follow; the splitter waits for the
  next character to know whether one does. Exception: after a closing bracket or a bare
  ``！？``, Japanese quotative "と" continues the sentence (「本当？」と言った). ASCII ``!``/``?``
  between two CJK characters also ends a sentence.
* A blank line always ends a sentence. A single newline ends one when the line ended with
  terminal punctuation (unless the last word is a never-split abbreviation such as "Dr."),
  when the line is a list item or a Markdown heading, or when the next line starts one
  ("- ", "* ", "• ", "+ ", "1. ", "2) ", "# "). Any other newline is a soft wrap: a space.
* ``first_clause_min_chars``: the first piece of the stream may also end at a clause boundary
  (``, ; :`` followed by whitespace, a spaced dash `` - `` `` – `` `` — ``, or CJK ``，；：、``)
  once it holds at least that many characters, so speech can start sooner. Only the first
  piece; "1,000" is never a clause boundary (no whitespace after the comma).
* ``max_chars``: a sentence that would be longer is cut at the last clause boundary in the second
  half of the window, else at the last whitespace, else (one word longer than the limit) at the
  limit itself.

Emitted sentences are stripped, have internal whitespace runs collapsed to one space, and are
never empty. Feeding a text in any chunking gives exactly the sentences that
:func:`split_sentences` gives for the whole text. ``feed`` resumes scanning where the last call
stopped, so a stream costs time proportional to its length (plus a rescan of at most one
sentence, which ``max_chars`` bounds, when a cut is made).
"""

from __future__ import annotations

import re

__all__ = ["SentenceSplitter", "split_sentences"]

# Terminators that need whitespace (and a plausible start) after them.
_SPACED_TERMINATORS = ".!?…‼⁇⁈⁉"
# Terminators that end a sentence on their own: CJK full stops, danda, Arabic/Urdu.
_IMMEDIATE_TERMINATORS = "。！？｡।॥؟۔"
_TERMINATORS = _SPACED_TERMINATORS + _IMMEDIATE_TERMINATORS
_CLOSERS = "\"'”’»)]}」』）】〕〉》｣〗〙〛*_`"
_OPENERS = "\"'“‘«„‚([{¿¡「『（【〔〈《*_`"
# Newline characters (as str.splitlines sees them, except "\r", which "\r\n" pairs with a "\n").
_NEWLINES = "\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_HORIZONTAL_SPACE = " \t\u00a0\u3000"
_CLAUSE_SPACED = ",;:"  # a clause boundary when whitespace follows
_CLAUSE_CJK = "，；：、"  # a clause boundary on their own
_DASHES = "-–—"  # a clause boundary when spaced on both sides
# After whitespace these continue the sentence rather than start one.
_CONTINUATION_STARTS = ",;:.!?…)]}»”’-–—/%&"

_CANDIDATES = re.compile("[" + re.escape(_TERMINATORS + _NEWLINES) + "]")
_CANDIDATES_FIRST = re.compile(
    "[" + re.escape(_TERMINATORS + _NEWLINES + _CLAUSE_SPACED + _CLAUSE_CJK + _DASHES) + "]"
)
_NON_SPACE = re.compile(r"\S")
# A list item or Markdown heading at the start of a line.
_ITEM_LINE = re.compile(r"[ \t]*(?:[-*•+]|[0-9]{1,3}[.)]|#{1,6})[ \t]")
# "U.S", "e.g", "Ph.D" (the final period is the candidate and not part of the token).
_INITIALISM = re.compile(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that qualify what follows them: a period after them never ends a sentence.
_NEVER_FINAL = _words(
    """
    mr mrs ms mx messrs dr prof st mt sr sra srta dra dña mme mlle mmes rev hon gen
    col lt capt cmdr sgt maj adm gov sen rep pres supt insp vs approx cf viz resp e.g
    i.e dott sig sigg avv ing ud uds
    """
)
# Abbreviations when a number follows ("No. 5", "Fig. 3", "p. 12", "Jan. 5").
_BEFORE_NUMBER = _words(
    """
    no nos nr núm num art fig figs sec ch chap vol vols eq eqs ref pp pg pag pág op ca
    tel ext jan feb mar apr jun jul aug sep sept oct nov dec
    """
)
# Abbreviations that often end a sentence: treated like ordinary words (documentation, and
# exceptions to the initialism rule).
_MAY_END = _words(
    """
    etc a.m p.m inc ltd co corp llc plc jr bros esq ph.d al ave rd blvd
    """
)

_NO = -1  # the candidate is not a boundary
_WAIT = -2  # the answer depends on text that has not arrived yet

_NORMAL, _NEVER, _NUMBER_PREFIX = range(3)


def _is_cjk(char: str) -> bool:
    """True for Han ideographs and Japanese kana, which are written without spaces."""
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF66 <= code <= 0xFF9F
        or 0x20000 <= code <= 0x2FFFF
    )


def _normalise(piece: str) -> str:
    return " ".join(piece.split())


def _marker_at(text: str, j: int, final: bool) -> bool | None:
    """Whether a list marker or heading starts at ``j``; None when more text is needed."""
    n = len(text)
    unknown = False if final else None
    char = text[j]
    if char in "-*•+":
        return unknown if j + 1 == n else text[j + 1] in " \t"
    if char == "#":
        k = j
        while k < n and text[k] == "#":
            k += 1
        if k == n:
            return unknown
        return k - j <= 6 and text[k] in " \t"
    if "0" <= char <= "9":
        k = j
        while k < n and "0" <= text[k] <= "9" and k - j <= 3:
            k += 1
        if k == n:
            return unknown
        if k - j > 3 or text[k] not in ".)":
            return False
        return unknown if k + 1 == n else text[k + 1] in " \t"
    return False


class SentenceSplitter:
    """Cut a text that arrives in arbitrary chunks into sentences, as early as is safe.

    ``feed`` returns the sentences that the text so far proves complete; ``flush`` ends the
    stream and returns the rest. After ``flush`` the splitter is fresh and can be reused.
    """

    def __init__(self, first_clause_min_chars: int | None = None, max_chars: int = 400) -> None:
        if first_clause_min_chars is not None and first_clause_min_chars < 1:
            raise ValueError("first_clause_min_chars must be at least 1 (or None to disable)")
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        self._clause_min = first_clause_min_chars
        self._max_chars = max_chars
        self._reset()

    def _reset(self) -> None:
        self._buf = ""
        # Candidates before this index (into _buf) are settled as non-boundaries.
        self._checkpoint = 0
        self._emitted = False
        # _buf[0] is the start of the stream, hence the start of a line.
        self._at_stream_start = True

    def feed(self, text: str) -> list[str]:
        """Add a chunk; return the sentences now known to be complete."""
        if not text:
            return []
        self._buf += text
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """End of stream: return the remaining sentences (stripped, non-empty)."""
        out = self._drain(final=True)
        rest = _normalise(self._buf)
        if rest:
            out.append(rest)
        self._reset()
        return out

    # -- scanning ------------------------------------------------------------------------

    def _drain(self, final: bool) -> list[str]:
        out: list[str] = []
        buf = self._buf
        start = 0
        while (cut := self._find_cut(buf, start, final)) is not None:
            end, resume = cut
            piece = _normalise(buf[start:end])
            if piece:
                out.append(piece)
                self._emitted = True
            start = self._checkpoint = resume
            self._at_stream_start = False
        if start:
            buf = buf[start:]
            self._checkpoint -= start
        if buf and not buf.strip():
            # Only whitespace left: all that can matter later is whether it held a newline.
            buf = "\n" if any(c in _NEWLINES for c in buf) else ""
            self._checkpoint = 0
        self._buf = buf
        return out

    def _find_cut(self, buf: str, start: int, final: bool) -> tuple[int, int] | None:
        """Return (end, resume) of the next piece starting at ``start``, or None.

        None means no boundary yet: wait for more text (or, when final, the rest is one piece).
        """
        first_non_space = _NON_SPACE.search(buf, start)
        if first_non_space is None:
            self._checkpoint = start
            return None
        s = first_non_space.start()
        limit = s + self._max_chars
        first_piece = self._clause_min is not None and not self._emitted
        pattern = _CANDIDATES_FIRST if first_piece else _CANDIDATES
        pos = max(self._checkpoint, s)
        while (m := pattern.search(buf, pos, limit)) is not None:
            p = m.start()
            char = buf[p]
            if char in _NEWLINES:
                decision, pos = self._decide_newline(buf, p, start, s, final)
            elif char in _TERMINATORS:
                decision, pos = self._decide_terminator(buf, p, start, s, final)
            else:
                decision, pos = self._decide_clause(buf, p, s, final)
            if decision == _WAIT:
                self._checkpoint = p
                return None
            if decision >= 0:
                if decision - s > self._max_chars:
                    return self._forced_cut(buf, s, limit)
                return decision, decision
        self._checkpoint = pos
        if _NON_SPACE.search(buf, limit) is not None:
            return self._forced_cut(buf, s, limit)
        return None

    def _decide_terminator(
        self, buf: str, p: int, start: int, s: int, final: bool
    ) -> tuple[int, int]:
        n = len(buf)
        q = p
        while q < n and buf[q] in _TERMINATORS:
            q += 1
        e = q
        while e < n and buf[e] in _CLOSERS:
            e += 1
        if e == n:  # the run or its closers may go on ("?" + "!", "." + "5")
            return (e, q) if final else (_WAIT, p)
        run = buf[p:q]
        following = buf[e]
        if any(c in _IMMEDIATE_TERMINATORS for c in run):
            quotative = e > q or not any(c in "。｡" for c in run)
            if following == "と" and quotative:
                return _NO, q
            return e, q
        if not following.isspace():
            # "你好!我很好": ASCII !/? between CJK characters, which use no spaces.
            between_cjk = p > s and _is_cjk(buf[p - 1]) and _is_cjk(following)
            if between_cjk and ("!" in run or "?" in run):
                return e, q
            return _NO, q
        lone_period = run == "."
        j = e
        while j < n and buf[j].isspace():
            if buf[j] in _NEWLINES:
                # The line ended with terminal punctuation.
                if lone_period and self._token_kind(buf, p, start, s) == _NEVER:
                    return _NO, q  # the newline itself is judged on its own
                return e, q
            j += 1
        k = j
        while k < n and buf[k] in _OPENERS:
            k += 1
        if k == n:
            return (e, q) if final else (_WAIT, p)
        head = buf[k]
        if head.islower() or head in _CONTINUATION_STARTS:
            return _NO, q
        if lone_period:
            kind = self._token_kind(buf, p, start, s)
            if kind == _NEVER or (kind == _NUMBER_PREFIX and head.isdigit()):
                return _NO, q
        return e, q

    def _token_kind(self, buf: str, p: int, start: int, s: int) -> int:
        """Classify the word before the period at ``p``."""
        b = p
        while b > start and not buf[b - 1].isspace():
            b -= 1
        token = buf[b:p].lstrip(_OPENERS)
        if not token:
            return _NORMAL
        lower = token.lower()
        if lower in _NEVER_FINAL:
            return _NEVER
        if lower in _BEFORE_NUMBER:
            return _NUMBER_PREFIX
        if lower in _MAY_END:
            return _NORMAL
        if len(token) == 1 and token.isalpha() and token != "I":
            return _NEVER
        if _INITIALISM.fullmatch(token):
            return _NEVER
        if token.isdigit() and len(token) <= 3:
            if b == s:
                return _NEVER  # "1. Open the door": a list number
            i = b - 1
            while i >= start and buf[i] in _HORIZONTAL_SPACE:
                i -= 1
            if i >= start and buf[i] == ":":
                return _NEVER  # "Steps: 1. Open the door"
        return _NORMAL

    def _decide_newline(self, buf: str, p: int, start: int, s: int, final: bool) -> tuple[int, int]:
        n = len(buf)
        end = p
        while end > s and buf[end - 1].isspace():
            end -= 1
        j = p + 1
        while j < n and buf[j].isspace():
            if buf[j] in _NEWLINES:
                return end, end  # a blank line: a new paragraph
            j += 1
        if self._line_is_item(buf, end, start, s):
            return end, end
        if j == n:
            return (end, end) if final else (_WAIT, p)
        starts_item = _marker_at(buf, j, final)
        if starts_item is None:
            return _WAIT, p
        if starts_item:
            return end, end
        return _NO, p + 1

    def _line_is_item(self, buf: str, end: int, start: int, s: int) -> bool:
        """Whether the line that ends at ``end`` is a list item or heading."""
        i = end - 1
        while i >= s and buf[i] not in _NEWLINES:
            i -= 1
        if i >= s:
            line_start = i + 1
        elif self._at_stream_start or any(c in _NEWLINES for c in buf[start:s]):
            line_start = s
        else:
            return False  # the line began in an earlier piece: not known to be an item
        return _ITEM_LINE.match(buf, line_start, end + 1) is not None

    def _decide_clause(self, buf: str, p: int, s: int, final: bool) -> tuple[int, int]:
        assert self._clause_min is not None
        long_enough = p + 1 - s >= self._clause_min
        char = buf[p]
        if char in _CLAUSE_CJK:
            return (p + 1, p + 1) if long_enough else (_NO, p + 1)
        if char in _DASHES and not (p > s and buf[p - 1] in _HORIZONTAL_SPACE):
            return _NO, p + 1
        if p + 1 == len(buf):
            return (_NO, p + 1) if final else (_WAIT, p)
        if long_enough and buf[p + 1].isspace():
            return p + 1, p + 1
        return _NO, p + 1

    def _forced_cut(self, buf: str, s: int, limit: int) -> tuple[int, int]:
        """Cut a sentence longer than max_chars: the piece is ``buf[s:c]`` with c <= limit."""
        for c in range(limit, s + self._max_chars // 2, -1):
            before = buf[c - 1]
            if before in _CLAUSE_CJK:
                return c, c
            if buf[c].isspace() and (
                before in _CLAUSE_SPACED
                or (before in _DASHES and c - 2 > s and buf[c - 2] in _HORIZONTAL_SPACE)
            ):
                return c, c
        for c in range(limit, s, -1):
            if buf[c].isspace():
                return c, c
        return limit, limit


def split_sentences(
    text: str, first_clause_min_chars: int | None = None, max_chars: int = 400
) -> list[str]:
    """Split a whole text exactly as a stream of it would be split."""
    splitter = SentenceSplitter(first_clause_min_chars, max_chars)
    return splitter.feed(text) + splitter.flush()
