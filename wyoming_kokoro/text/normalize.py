"""English spoken-form normalisation: rewrite what misaki would misread, leave the rest.

misaki (Kokoro v1.0's English G2P) already reads many numeric forms well, and its own number
reading keeps the stress pattern right, so digits it handles stay digits. What was measured
(misaki 0.9.4, American voice; phonemes abridged) and what this module does about it:

Left to misaki (read correctly): integers and thousands separators ("1,234"), decimals
("3.5" → three point five), ordinals ("22nd"), "$5" / "$3.50" / "€20" / "£1.2 million",
percentages ("25%", "50 %"), years ("2026" → twenty twenty-six, "the 1990s"), "+" and "&",
"-5" → minus five, "No. 5" → number five, "10+".

Rewritten here, because misaki gets it wrong:

* Temperatures: "21°C" → "degrees C" (sˈi), "70°F" → "degrees F", and "-5°C" comes out as
  garbage ("ɪz “sˈi": the number vanishes). → "21 degrees Celsius", "minus 5 degrees Celsius".
* Units are spelled out letter by letter: "5 km" → "K M", "15 km/h" → "K M slash H", "mph",
  "kg", "ml", "kWh" → "K W H", "60 W" → "double-u", "100 Mbps", "20 GB", "12.5 cm", "6 ft",
  "5 min" → "min", "2 h" → "aitch", "1013 hPa", "µg/m³", "m²". → unit words, singular after
  exactly 1. A four-digit number before a unit is read as a year ("1013 hPa" → ten thirteen),
  so it gets a thousands separator ("1,013"), which misaki reads as a cardinal.
* Times: "7:30" → "seven:thirty" (a colon pause inside), "7:05" → "seven zero five", "7:00" →
  "seven zero zero", "7am" → "seven am" (æm, the word). → "seven thirty", "seven oh five",
  "seven o'clock", "seven AM"; "19:45" → "nineteen forty-five", "19:00" → "nineteen hundred".
  "7:30 a.m." at the end of a sentence lost its full stop; it is kept.
* Dates: "2026-12-01" → "twenty twenty six twelve zero one"; "Dec 1, 2026" → "dec one";
  "December 1" → "December one"; "1 December" → "one December". → "December 1st, 2026"
  (American) or "the 1st of December 2026" (British; also for "1 December" in either).
  "12/01/2026" is month first in American English, day first in British.
* Ranges: "5-10" → "fiveten", "2020-2024" → garbled. → "5 to 10". Phone-like "555-1234" is read
  digit by digit instead ("five five five, one two three four").
* URLs, e-mail addresses, domains, entity ids and file names are garbled ("https" read as
  letters, "home-assistant.io/docs" → "home)assistant)I O)docs", "a.b@example.com" → "A B at
  ..."). → "home assistant dot io slash docs", "a dot b at example dot com", "light dot
  living room". The scheme and "www." are not read; a query string or fragment is dropped (and
  logged at debug level).
* Money misaki does not know: "$5m" → "five dollars em", "$2bn" → "B N", "¥500" (no "yen"),
  "20€" (suffix). → "5 million dollars", "2 billion dollars", "500 yen", "20 euros", "5 USD" →
  "5 dollars".
* "~5" → "tilde five" → "about 5"; "<"/">" before a number vanish → "less than"/"more than";
  "#1" → "one" → "number 1"; "3x" → "three ex" → "3 times"; "1920x1080" → "1920 by 1080";
  "4.5/5" → "four point five five" → "4.5 out of 5"; "1/2" → "one two" → "one half";
  "e.g." / "i.e." → letters → "for example" / "that is"; "2024.12.1" (a Home Assistant
  version) → "two zero two four twelve one" → "2024 point 12 point 1".

Not converted: a bare "in" after a number ("6 in pipe" vs "5 in the morning" cannot be told
apart), so only "6in" (no space) becomes inches; "30s" (a decade) is not read as seconds, only
"30 s" is; "5 A" is not read as amperes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from num2words import num2words

from .markup import drop_pictographs

__all__ = ["normalize_english", "normalize_generic"]

_LOGGER = logging.getLogger(__name__)

_Rule = Callable[[str, bool], str]

_MONTHS = [
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
]
_MONTH_BY_PREFIX = {name[:3].lower(): name for name in _MONTHS}
_MONTH_NAME = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?)"
)
_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"


def _month(token: str) -> str:
    """'Dec' / 'Dec.' / 'December' → 'December'."""
    return _MONTH_BY_PREFIX[token[:3].lower()]


def _ordinal(day: int) -> str:
    """'1st', '22nd': misaki reads digit ordinals well."""
    teen = 10 <= day % 100 <= 20
    suffix = "th" if teen else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _words(number: int) -> str:
    return num2words(number).replace(",", "")


def _date(year: str | None, month: int, day: int, british: bool) -> str:
    name = _MONTHS[month - 1]
    if british:
        text = f"the {_ordinal(day)} of {name}"
        return f"{text} {year}" if year else text
    text = f"{name} {_ordinal(day)}"
    return f"{text}, {year}" if year else text


# -- addresses -------------------------------------------------------------------------------

_TLDS = (
    "com|org|net|io|dev|app|ai|co|uk|de|fr|nl|be|es|it|eu|ch|at|se|no|dk|fi|pl|info|gov|edu"
    "|me|tv|us|ca|au|nz|local|lan|home|arpa|cloud|tech|xyz|ly|gg|sh"
)
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_DOMAIN = re.compile(
    rf"\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
# light.living_room, configuration.yaml, sensor.outdoor_temperature: lowercase, no spaces.
_DOTTED = re.compile(r"(?<![\w.@/])[a-z][a-z0-9_]+(?:\.[a-z0-9_]*[a-z][a-z0-9_]*)+(?![\w@])")
_TRAILING_PUNCT = ".,;:!?)]}'\""


def _say_part(part: str) -> str:
    """One host label or path segment: separators become spaces, dots are said."""
    part = re.sub(r"[-_+~]+", " ", part)
    return " dot ".join(piece.strip() for piece in part.split(".") if piece.strip())


def _say_address(address: str) -> str:
    """'home-assistant.io/docs/x' → 'home assistant dot io slash docs slash x'."""
    address = re.sub(r"^(?:[a-z]+://)?(?:www\.)?", "", address, flags=re.IGNORECASE)
    cut = re.search(r"[?#]", address)
    if cut:
        _LOGGER.debug("Normalisation dropped URL query/fragment %r", address[cut.start() :])
        address = address[: cut.start()]
    host, _, path = address.partition("/")
    spoken = [_say_part(host)]
    spoken += [_say_part(segment) for segment in path.split("/") if _say_part(segment)]
    return " slash ".join(piece for piece in spoken if piece)


def _split_trailing(match: re.Match[str]) -> tuple[str, str]:
    text = match.group(0)
    core = text.rstrip(_TRAILING_PUNCT)
    return core, text[len(core) :]


def _urls(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        core, tail = _split_trailing(match)
        return _say_address(core) + tail

    return _URL.sub(say, text)


def _emails(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        local, _, domain = match.group(0).partition("@")
        local = re.sub(r"\.", " dot ", local)
        local = local.replace("_", " underscore ").replace("-", " dash ").replace("+", " plus ")
        return f"{' '.join(local.split())} at {_say_address(domain)}"

    return _EMAIL.sub(say, text)


def _domains(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        core, tail = _split_trailing(match)
        return _say_address(core) + tail

    return _DOMAIN.sub(say, text)


def _dotted(text: str, british: bool) -> str:
    return _DOTTED.sub(lambda m: _say_part(m.group(0)), text)


# -- dates, times, phone numbers -------------------------------------------------------------

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b(?!-)")
_SLASH_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_MONTH_DAY = re.compile(rf"\b({_MONTH_NAME})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?![.:]?\d)")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_NAME})(?!\w)")
_PHONE = re.compile(r"(?<![\d-])(?:(\d{3})-)?(\d{3})-(\d{4})(?![\d-])")


def _iso_dates(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        year, month, day = match.group(1), int(match.group(2)), int(match.group(3))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return match.group(0)
        return _date(year, month, day, british)

    return _ISO_DATE.sub(say, text)


def _slash_dates(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        first, second, year = int(match.group(1)), int(match.group(2)), match.group(3)
        month, day = (second, first) if british else (first, second)
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return match.group(0)
        return _date(year, month, day, british)

    return _SLASH_DATE.sub(say, text)


def _month_dates(text: str, british: bool) -> str:
    def month_day(match: re.Match[str]) -> str:
        day = int(match.group(2))
        if not 1 <= day <= 31:
            return match.group(0)
        return f"{_month(match.group(1))} {_ordinal(day)}"

    def day_month(match: re.Match[str]) -> str:
        day = int(match.group(1))
        if not 1 <= day <= 31:
            return match.group(0)
        prefix = "" if text[: match.start()].rstrip().lower().endswith("the") else "the "
        return f"{prefix}{_ordinal(day)} of {_month(match.group(2))}"

    text = _DAY_MONTH.sub(day_month, text)
    return _MONTH_DAY.sub(month_day, text)


def _phones(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        groups = [g for g in match.groups() if g]
        return ", ".join(" ".join(_words(int(d)) for d in group) for group in groups)

    return _PHONE.sub(say, text)


_TIME = re.compile(
    r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])"
    r"(?:\s?([AaPp])\.?[Mm]\.?(?![\w]))?"
)
_HOUR_AMPM = re.compile(r"(?<![\d:.,])(1[0-2]|0?[1-9])\s?([AaPp])\.?[Mm]\.?(?!\w)")


def _meridiem(letter: str, matched: str, at_end: bool) -> str:
    """'AM'/'PM'; 'a.m.' that also ended the sentence keeps its full stop."""
    spoken = "AM" if letter.lower() == "a" else "PM"
    return spoken + ("." if at_end and matched.endswith(".") else "")


def _times(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        hour, minute, letter = int(match.group(1)), int(match.group(2)), match.group(3)
        at_end = match.end() == len(text)
        if letter:
            hour_words = _words(hour % 12 or 12)
            suffix = " " + _meridiem(letter, match.group(0), at_end)
        elif hour == 0 and minute:
            hour_words, suffix = "twelve", " AM"  # "00:30": nobody says "zero thirty"
        else:
            hour_words = _words(hour)
            suffix = ""
            if minute == 0:
                if hour == 0:
                    return "midnight"
                return f"{hour_words} o'clock" if hour <= 12 else f"{hour_words} hundred"
        if minute == 0:
            minute_words = ""
        elif minute < 10:
            minute_words = f" oh {_words(minute)}"
        else:
            minute_words = " " + _words(minute)
        return f"{hour_words}{minute_words}{suffix}"

    def hour_only(match: re.Match[str]) -> str:
        at_end = match.end() == len(text)
        return f"{int(match.group(1))} {_meridiem(match.group(2), match.group(0), at_end)}"

    text = _TIME.sub(say, text)
    return _HOUR_AMPM.sub(hour_only, text)


# -- numbers with units, money, ranges -------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)")
_VERSION = re.compile(r"(?<![\w.])(v?)(\d+)\.(\d+)\.(\d+)(?!\w|\.\d)")
_RANGE = re.compile(
    r"(?<![\w.,-])([$€£]?\d+(?:\.\d+)?)(?:-|\s?–\s?|\s?—\s?)([$€£]?\d+(?:\.\d+)?)(?![\w-]|\.\d)"
)
_SIGN = {"-": "minus ", "−": "minus ", "+": "plus ", "": ""}
_TEMPERATURE = re.compile(
    rf"(?<![\w.])([-−+]?)({_NUMBER})\s?(?:°\s?([CF])(?:elsius|ahrenheit)?\b|(℃)|(℉)|°)"
)
_SCALES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "bn": "billion"}
_SCALES |= {"b": "billion", "B": "billion", "mn": "million", "tn": "trillion"}
_CURRENCY_NAMES = {
    "$": ("dollar", "dollars"),
    "€": ("euro", "euros"),
    "£": ("pound", "pounds"),
    "¥": ("yen", "yen"),
    "₹": ("rupee", "rupees"),
    "USD": ("dollar", "dollars"),
    "EUR": ("euro", "euros"),
    "GBP": ("pound", "pounds"),
    "JPY": ("yen", "yen"),
    "CHF": ("Swiss franc", "Swiss francs"),
    "INR": ("rupee", "rupees"),
}
_MISAKI_CURRENCIES = {"$": "$", "€": "€", "£": "£", "USD": "$", "EUR": "€", "GBP": "£"}
_SCALED_MONEY = re.compile(rf"([$€£¥₹])\s?({_NUMBER})\s?(bn|mn|tn|[kKmMbB])(?![\w])")
_PREFIX_MONEY = re.compile(rf"(?:([¥₹])|\b(USD|EUR|GBP|JPY|CHF|INR)\s?)({_NUMBER})(?![\d])")
_SUFFIX_MONEY = re.compile(rf"(?<![\w.$€£])({_NUMBER})\s?(?:([€£$¥₹])|(USD|EUR|GBP|JPY|CHF|INR)\b)")

# symbol → (singular, plural). Case matters: "MB" is megabytes, "mb" is not recognised.
_UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "m/s": ("meter per second", "meters per second"),
    "µg/m³": ("microgram per cubic meter", "micrograms per cubic meter"),
    "μg/m³": ("microgram per cubic meter", "micrograms per cubic meter"),
    "ug/m3": ("microgram per cubic meter", "micrograms per cubic meter"),
    "MB/s": ("megabyte per second", "megabytes per second"),
    "km²": ("square kilometer", "square kilometers"),
    "m²": ("square meter", "square meters"),
    "m³": ("cubic meter", "cubic meters"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"),
    "ft": ("foot", "feet"),
    "mi": ("mile", "miles"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lbs": ("pound", "pounds"),
    "lb": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "l": ("liter", "liters"),
    "L": ("liter", "liters"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "MWh": ("megawatt hour", "megawatt hours"),
    "Wh": ("watt hour", "watt hours"),
    "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"),
    "W": ("watt", "watts"),
    "V": ("volt", "volts"),
    "mA": ("milliamp", "milliamps"),
    "GHz": ("gigahertz", "gigahertz"),
    "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "Mbps": ("megabit per second", "megabits per second"),
    "kbps": ("kilobit per second", "kilobits per second"),
    "TB": ("terabyte", "terabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "kB": ("kilobyte", "kilobytes"),
    "KB": ("kilobyte", "kilobytes"),
    "hPa": ("hectopascal", "hectopascals"),
    "mbar": ("millibar", "millibars"),
    "inHg": ("inch of mercury", "inches of mercury"),
    "dB": ("decibel", "decibels"),
    "lx": ("lux", "lux"),
    "ppm": ("part per million", "parts per million"),
    "ppb": ("part per billion", "parts per billion"),
    "hrs": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "h": ("hour", "hours"),
    "mins": ("minute", "minutes"),
    "min": ("minute", "minutes"),
    "ms": ("millisecond", "milliseconds"),
    "secs": ("second", "seconds"),
    "sec": ("second", "seconds"),
}
# Units read only when written with a space ("30 s" but "the 30s") or only without ("6in").
_SPACED_ONLY = {"s": ("second", "seconds")}
_ATTACHED_ONLY = {"in": ("inch", "inches")}
_UNIT_ALTERNATION = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
_UNIT = re.compile(
    rf"(?<![\w.,])([-−]?)({_NUMBER})(?:\s?({_UNIT_ALTERNATION})|\s(s)|(in))(?![\w/²³])"
)


def _count(number: str, forms: tuple[str, str]) -> str:
    """The number (made a cardinal if misaki would read it as a year) and its unit word."""
    plain = number.replace(",", "")
    if re.fullmatch(r"\d{4}", plain):
        number = f"{plain[0]},{plain[1:]}"
    return f"{number} {forms[0] if plain == '1' else forms[1]}"


def _versions(text: str, british: bool) -> str:
    """'2024.12.1' → '2024 point 12 point 1'; an IPv4 address is read with 'dot'."""
    text = _IPV4.sub(lambda m: " dot ".join(str(int(g)) for g in m.group(0).split(".")), text)

    def say(match: re.Match[str]) -> str:
        prefix = "version " if match.group(1) else ""
        return prefix + " point ".join(str(int(g)) for g in match.groups()[1:])

    return _VERSION.sub(say, text)


def _ranges(text: str, british: bool) -> str:
    return _RANGE.sub(lambda m: f"{m.group(1)} to {m.group(2)}", text)


def _temperatures(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        sign, number = _SIGN[match.group(1)], match.group(2)
        scale = match.group(3) or ("C" if match.group(4) else "F" if match.group(5) else "")
        degrees = "degree" if number == "1" else "degrees"
        name = {"C": " Celsius", "F": " Fahrenheit", "": ""}[scale]
        return f"{sign}{number} {degrees}{name}"

    return _TEMPERATURE.sub(say, text)


def _money(text: str, british: bool) -> str:
    def scaled(match: re.Match[str]) -> str:
        return f"{match.group(2)} {_SCALES[match.group(3)]} {_CURRENCY_NAMES[match.group(1)][1]}"

    def say(currency: str, number: str) -> str:
        # misaki reads "$", "€" and "£" before a number well ("€0.30" → thirty cents).
        symbol = _MISAKI_CURRENCIES.get(currency)
        return f"{symbol}{number}" if symbol else _count(number, _CURRENCY_NAMES[currency])

    text = _SCALED_MONEY.sub(scaled, text)
    text = _PREFIX_MONEY.sub(lambda m: say(m.group(1) or m.group(2), m.group(3)), text)
    return _SUFFIX_MONEY.sub(lambda m: say(m.group(2) or m.group(3), m.group(1)), text)


_PER_UNIT = re.compile(rf"(?:\bper\s+|(?<=[\w%$€£])/)({_UNIT_ALTERNATION})(?![\w/²³])")
_PER_WORD = re.compile(r"(?<=[\w%])/(day|week|month|year|hour|minute|second|person)\b")


def _units(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        sign, number = _SIGN[match.group(1)], match.group(2)
        if match.group(3):
            forms = _UNITS[match.group(3)]
        elif match.group(4):
            forms = _SPACED_ONLY["s"]
        else:
            forms = _ATTACHED_ONLY["in"]
        return sign + _count(number, forms)

    text = _PER_WORD.sub(r" per \1", text)
    text = _UNIT.sub(say, text)
    return _PER_UNIT.sub(lambda m: f" per {_UNITS[m.group(1)][0]}", text)


# -- symbols and abbreviations ---------------------------------------------------------------

_FRACTIONS = {
    (1, 2): "one half",
    (1, 3): "one third",
    (2, 3): "two thirds",
    (1, 4): "one quarter",
    (3, 4): "three quarters",
}
_UNICODE_FRACTIONS = {"½": "one half", "⅓": "one third", "⅔": "two thirds"}
_UNICODE_FRACTIONS |= {"¼": "one quarter", "¾": "three quarters"}
_SLASH_NUMBERS = re.compile(r"(?<![\w./])(\d+(?:\.\d+)?)/(\d+)(?![\w/]|\.\d)")
_TIMES = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)x(?!\w)")
_DIMENSIONS = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?[x×]\s?(\d+(?:\.\d+)?)(?!\w|\.\d)")
_APPROX = re.compile(r"(?<![\w~≈])[~≈]\s?(?=[\d$€£])")
_COMPARE = re.compile(r"(?<![\w<>=])(<=|>=|≤|≥|<|>)\s?(?=[-−]?[\d$€£])")
_COMPARE_WORDS = {"<": "less than ", ">": "more than ", "<=": "at most ", ">=": "at least "}
_COMPARE_WORDS |= {"≤": "at most ", "≥": "at least "}
_HASH_NUMBER = re.compile(r"(?<![\w&])#(\d)")
_LATIN = {"e": "for example", "i": "that is"}
_LATIN_ABBREVIATION = re.compile(r"\b([ei])\.([gE])\.(?=\s|,|$)", re.IGNORECASE)


def _fractions(text: str, british: bool) -> str:
    def say(match: re.Match[str]) -> str:
        top, bottom = match.group(1), int(match.group(2))
        if "." not in top and (int(top), bottom) in _FRACTIONS:
            return _FRACTIONS[(int(top), bottom)]
        if "." in top or bottom in (5, 10, 100):
            return f"{top} out of {bottom}"
        return match.group(0)

    for char, words in _UNICODE_FRACTIONS.items():
        text = re.sub(rf"(\d)\s?{char}", rf"\1 and {words.replace('one ', 'a ')}", text).replace(
            char, f" {words} "
        )
    return _SLASH_NUMBERS.sub(say, text)


def _symbols(text: str, british: bool) -> str:
    text = _DIMENSIONS.sub(lambda m: f"{m.group(1)} by {m.group(2)}", text)
    text = _TIMES.sub(lambda m: f"{m.group(1)} times", text)
    text = _APPROX.sub("about ", text)
    text = _COMPARE.sub(lambda m: _COMPARE_WORDS[m.group(1)], text)
    text = _HASH_NUMBER.sub(r"number \1", text)
    return _LATIN_ABBREVIATION.sub(_latin, text)


def _latin(match: re.Match[str]) -> str:
    if match.group(2).lower() != ("g" if match.group(1).lower() == "e" else "e"):
        return match.group(0)
    words = _LATIN[match.group(1).lower()]
    return words.capitalize() if match.group(1).isupper() else words


# Order matters: addresses first (they hold dots, dashes and digits), then dates and phone
# numbers (which look like ranges), times, versions, then numbers with what follows them.
_ENGLISH_RULES: tuple[_Rule, ...] = (
    _urls,
    _emails,
    _domains,
    _dotted,
    _iso_dates,
    _slash_dates,
    _month_dates,
    _phones,
    _times,
    _versions,
    _ranges,
    _temperatures,
    _money,
    _units,
    _fractions,
    _symbols,
)

_INTRAWORD_UNDERSCORE = re.compile(r"(?<=[^\W_])_+(?=[^\W_])")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


def normalize_generic(text: str) -> str:
    """Safe for every language: no emoji, underscores between letters read as a space, one
    space between words. Punctuation spacing is left alone (French puts a space before "!")."""
    text = _INTRAWORD_UNDERSCORE.sub(" ", drop_pictographs(text))
    return " ".join(text.split())


def normalize_english(text: str, *, british: bool = False) -> str:
    """Rewrite the forms misaki misreads (see the module docstring) into words it reads well.

    ``british`` changes only what differs in meaning or habit: slash dates are day first and
    dates are read "the 1st of December 2026".
    """
    for rule in _ENGLISH_RULES:
        text = rule(text, british)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", normalize_generic(text))
