"""Kokoro v0.19's front end: its text normalisation, espeak-ng, and its phoneme fixes.

v0.19 was trained on espeak-ng IPA (en-us for `a*` voices, en-gb for `b*`) after a
fixed normalisation pass over the text, and its phoneme string was then patched
and filtered to its 178-symbol table. Reproducing those steps is what makes the
v0.19 voices sound as they did; the rules below follow v0.19's behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from .espeak import espeak_backend

# -- text normalisation -------------------------------------------------------

_CJK_PUNCTUATION = dict(zip("、。！，：；？", ",.!,:;?", strict=True))


def _say_year_or_time(match: re.Match[str]) -> str:
    """'1990' -> '19 90', '7:05' -> '7 oh 5', '10:00' -> "10 o'clock"; decimals untouched."""
    number = match.group()
    if "." in number:
        return number
    if ":" in number:
        hours, minutes = (int(part) for part in number.split(":"))
        if minutes == 0:
            return f"{hours} o'clock"
        if minutes < 10:
            return f"{hours} oh {minutes}"
        return f"{hours} {minutes}"
    year = int(number[:4])
    if year < 1100 or year % 1000 < 10:
        return number
    century, rest = number[:2], int(number[2:4])
    plural = "s" if number.endswith("s") else ""
    if 100 <= year % 1000 <= 999:
        if rest == 0:
            return f"{century} hundred{plural}"
        if rest < 10:
            return f"{century} oh {rest}{plural}"
    return f"{century} {rest}{plural}"


def _say_money(match: re.Match[str]) -> str:
    """'$5' -> '5 dollars', '£1.50' -> '1 pound and 50 pence'."""
    amount = match.group()
    unit = "dollar" if amount[0] == "$" else "pound"
    value = amount[1:]
    if amount[-1].isalpha():
        return f"{value} {unit}s"
    if "." not in value:
        return f"{value} {unit}{'' if value == '1' else 's'}"
    whole, fraction = value.split(".")
    cents = int(fraction.ljust(2, "0"))
    if amount[0] == "$":
        coins = "cent" if cents == 1 else "cents"
    else:
        coins = "penny" if cents == 1 else "pence"
    return f"{whole} {unit}{'' if whole == '1' else 's'} and {cents} {coins}"


def _say_decimal(match: re.Match[str]) -> str:
    """'3.14' -> '3 point 1 4'."""
    whole, fraction = match.group().split(".")
    return f"{whole} point {' '.join(fraction)}"


_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"[^\S \n]"), " "),
    (re.compile(r"  +"), " "),
    (re.compile(r"(?<=\n) +(?=\n)"), ""),
    (re.compile(r"\bD[Rr]\.(?= [A-Z])"), "Doctor"),
    (re.compile(r"\b(?:Mr\.|MR\.(?= [A-Z]))"), "Mister"),
    (re.compile(r"\b(?:Ms\.|MS\.(?= [A-Z]))"), "Miss"),
    (re.compile(r"\b(?:Mrs\.|MRS\.(?= [A-Z]))"), "Mrs"),
    (re.compile(r"\betc\.(?! [A-Z])"), "etc"),
    (re.compile(r"(?i)\b(y)eah?\b"), r"\1e'a"),
    (
        re.compile(r"\d*\.\d+|\b\d{4}s?\b|(?<!:)\b(?:[1-9]|1[0-2]):[0-5]\d\b(?!:)"),
        _say_year_or_time,
    ),
    (re.compile(r"(?<=\d),(?=\d)"), ""),
    (
        re.compile(
            r"(?i)[$£]\d+(?:\.\d+)?(?: hundred| thousand| (?:[bm]|tr)illion)*\b|[$£]\d+\.\d\d?\b"
        ),
        _say_money,
    ),
    (re.compile(r"\d*\.\d+"), _say_decimal),
    (re.compile(r"(?<=\d)-(?=\d)"), " to "),
    (re.compile(r"(?<=\d)S"), " S"),
    (re.compile(r"(?<=[BCDFGHJ-NP-TV-Z])'?s\b"), "'S"),
    (re.compile(r"(?<=X')S\b"), "s"),
    (re.compile(r"(?:[A-Za-z]\.){2,} [a-z]"), lambda m: m.group().replace(".", "-")),
    (re.compile(r"(?i)(?<=[A-Z])\.(?=[A-Z])"), "-"),
]


def normalize_text_v019(text: str) -> str:
    """v0.19's normalisation: quotes, CJK punctuation, titles, years, times, money, decimals."""
    text = text.replace("‘", "'").replace("’", "'")
    text = text.replace("«", "“").replace("»", "”")
    text = text.replace("“", '"').replace("”", '"')
    text = text.replace("(", "«").replace(")", "»")
    for cjk, ascii_mark in _CJK_PUNCTUATION.items():
        text = text.replace(cjk, ascii_mark + " ")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()


# -- phoneme fixes ---------------------------------------------------------------

_PHONEME_FIXES: list[tuple[re.Pattern[str], str]] = [
    # espeak's "kokoro" -> the Japanese pronunciation. v0.19's rule matched kəkˈoːɹoʊ;
    # today's espeak-ng (espeakng-loader's) says kəkˈɔːɹoʊ for American English.
    (re.compile("kəkˈ[oɔ]ːɹoʊ"), "kˈoʊkəɹoʊ"),
    (re.compile("kəkˈɔːɹəʊ"), "kˈəʊkəɹəʊ"),
    (re.compile("ʲ"), "j"),
    (re.compile("r"), "ɹ"),
    (re.compile("x"), "k"),
    (re.compile("ɬ"), "l"),
    (re.compile(r"(?<=[a-zɹː])(?=hˈʌndɹɪd)"), " "),
    (re.compile(r' z(?=[;:,.!?¡¿—…"«»“” ]|$)'), "z"),
]
_AMERICAN_NINETY = re.compile(r"(?<=nˈaɪn)ti(?!ː)")


class V019Espeak:
    """Text to v0.19 phonemes with espeak-ng (American or British English)."""

    def __init__(self, british: bool, symbols: Collection[str]) -> None:
        self._british = british
        self._symbols = frozenset(symbols)
        self._backend = espeak_backend(
            "en-gb" if british else "en-us", preserve_punctuation=True, with_stress=True
        )

    def __call__(self, text: str) -> str:
        normalized = normalize_text_v019(text)
        if not normalized:
            return ""
        phonemes = self._backend.phonemize([normalized])
        ps = phonemes[0] if phonemes else ""
        for pattern, replacement in _PHONEME_FIXES:
            ps = pattern.sub(replacement, ps)
        if not self._british:
            ps = _AMERICAN_NINETY.sub("di", ps)
        return "".join(p for p in ps if p in self._symbols).strip()
