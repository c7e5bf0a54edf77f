"""Sentence splitting of streamed LLM replies: early, never wrong, chunking-independent."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from wyoming_kokoro.text.sentences import SentenceSplitter, split_sentences

SEEDS = range(5)


@dataclass(frozen=True)
class Case:
    text: str
    expected: list[str]
    kwargs: dict[str, Any] = field(default_factory=dict)
    # False where a cut needs no whitespace (CJK) or splits one over-long word.
    joins_with_spaces: bool = True

    def __str__(self) -> str:  # readable test ids
        return self.text[:40]


LONG_RUN_ON = (
    "So the thing about the weather today is that it started out cool and cloudy in the "
    "morning, then the sun came out around ten and it got quite warm, and by the afternoon "
    "there were some clouds building up over the hills to the west, which usually means there "
    "could be a thunderstorm later on, although the forecast only gives it a thirty percent "
    "chance, so you probably do not need to cancel your plans but it might be worth bringing "
    "an umbrella just in case and maybe a light jacket because it will cool down quickly once "
    "the sun sets and the wind picks up from the north which it tends to do at this time of "
    "year when the seasons are changing"
)
assert len(LONG_RUN_ON) > 400

CASES = [
    # The brief's examples.
    Case("Dr. Smith arrived. He was late.", ["Dr. Smith arrived.", "He was late."]),
    Case("It is 3.5 degrees outside. Nice!", ["It is 3.5 degrees outside.", "Nice!"]),
    Case("Use e.g. apples. Or not.", ["Use e.g. apples.", "Or not."]),
    Case("The U.S. economy grew. Stocks rose.", ["The U.S. economy grew.", "Stocks rose."]),
    Case("Meet at 7:15. Bring snacks.", ["Meet at 7:15.", "Bring snacks."]),
    Case("Wait... what? Really!", ["Wait... what?", "Really!"]),
    Case('"Stop!" she said. Then left.', ['"Stop!" she said.', "Then left."]),
    Case("(See above.) Next one.", ["(See above.)", "Next one."]),
    # Abbreviations, initials, numbers, versions, addresses.
    Case(
        "Mr. and Mrs. Smith met Prof. Jones vs. the St. Louis team approx. twice.",
        ["Mr. and Mrs. Smith met Prof. Jones vs. the St. Louis team approx. twice."],
    ),
    Case("J. R. R. Tolkien wrote it. Read it.", ["J. R. R. Tolkien wrote it.", "Read it."]),
    Case("Neither am I. We left.", ["Neither am I.", "We left."]),
    Case(
        "I moved to the U.K. last year. It rains.", ["I moved to the U.K. last year.", "It rains."]
    ),
    Case("That is, i.e. Mostly fine.", ["That is, i.e. Mostly fine."]),
    Case("The value is .5 today. OK.", ["The value is .5 today.", "OK."]),
    Case("It starts at 9.30 today. Be there.", ["It starts at 9.30 today.", "Be there."]),
    Case(
        "Install v1.0.2 now. Visit example.com for more. Mail me at a.b@example.com. Thanks!",
        [
            "Install v1.0.2 now.",
            "Visit example.com for more.",
            "Mail me at a.b@example.com.",
            "Thanks!",
        ],
    ),
    Case("See https://example.com/a.b?x=1. Done.", ["See https://example.com/a.b?x=1.", "Done."]),
    Case("Fig. 3 shows it. No. I disagree.", ["Fig. 3 shows it.", "No.", "I disagree."]),
    Case(
        "See No. 5 on the list. Born Jan. 5 here.", ["See No. 5 on the list.", "Born Jan. 5 here."]
    ),
    Case("I ate a fig. It was sweet.", ["I ate a fig.", "It was sweet."]),
    Case("It was 2023. 5 people came.", ["It was 2023.", "5 people came."]),
    # "etc." / "a.m." end a sentence before a capital, not before a lowercase word.
    Case("Buy apples, pears, etc. Then go home.", ["Buy apples, pears, etc.", "Then go home."]),
    Case("Apples, pears, etc. are fruit.", ["Apples, pears, etc. are fruit."]),
    Case("Your alarm is at 7 a.m. Anything else?", ["Your alarm is at 7 a.m.", "Anything else?"]),
    Case("Leave at 7 a.m. sharp.", ["Leave at 7 a.m. sharp."]),
    Case("She has a Ph.D. Her thesis won.", ["She has a Ph.D.", "Her thesis won."]),
    # Runs, quotes, brackets, Markdown emphasis, other scripts.
    Case("Really?! Yes... Fine.", ["Really?!", "Yes...", "Fine."]),
    Case("I waited… and waited. Done.", ["I waited… and waited.", "Done."]),
    Case('He left. "Why?" she asked.', ["He left.", '"Why?" she asked.']),
    Case("He said “Go.” Then silence.", ["He said “Go.”", "Then silence."]),
    Case("**Warning!** Do not touch.", ["**Warning!**", "Do not touch."]),
    Case("¿Cómo estás? ¡Muy bien! Gracias.", ["¿Cómo estás?", "¡Muy bien!", "Gracias."]),
    Case("El Sr. García llegó. Luego salió.", ["El Sr. García llegó.", "Luego salió."]),
    Case("Mme. Dupont est là. Merci.", ["Mme. Dupont est là.", "Merci."]),
    Case("मैं ठीक हूँ। आप कैसे हैं?", ["मैं ठीक हूँ।", "आप कैसे हैं?"]),
    # CJK: no space needed after the terminator.
    Case(
        "今日は晴れです。明日は雨です！本当？",
        ["今日は晴れです。", "明日は雨です！", "本当？"],
        joins_with_spaces=False,
    ),
    Case("你好。我很好！", ["你好。", "我很好！"], joins_with_spaces=False),
    Case(
        "「本当？」と彼は言った。「はい。」次へ。",
        ["「本当？」と彼は言った。", "「はい。」", "次へ。"],
        joins_with_spaces=False,
    ),
    Case("他说：“你好！”然后走了。", ["他说：“你好！”", "然后走了。"], joins_with_spaces=False),
    Case("你好!我很好", ["你好!", "我很好"], joins_with_spaces=False),
    Case("価格は３．５円です。", ["価格は３．５円です。"]),
    # Newlines: paragraphs, soft wraps, lists, headings.
    Case("First line\n\nSecond line", ["First line", "Second line"]),
    Case("This is\nwrapped text.", ["This is wrapped text."]),
    Case("Hello.\nworld goes on.", ["Hello.", "world goes on."]),
    Case("Ask Dr.\nSmith today.", ["Ask Dr. Smith today."]),
    Case("Ask Dr.\n\nSmith today.", ["Ask Dr.", "Smith today."]),
    Case(
        "Shopping list:\n- eggs\n- milk\n1. bread\n2) butter\n* jam\nThat's all.",
        ["Shopping list:", "- eggs", "- milk", "1. bread", "2) butter", "* jam", "That's all."],
    ),
    Case(
        "Steps:\n  1. Open the door. Look around\n  2. Walk in\nDone.",
        ["Steps:", "1. Open the door.", "Look around", "2. Walk in", "Done."],
    ),
    Case("Steps: 1. Open the door. 2. Walk in.", ["Steps: 1. Open the door.", "2. Walk in."]),
    Case(
        "# Weather\nSunny all day\n-5 degrees at night",
        ["# Weather", "Sunny all day -5 degrees at night"],
    ),
    Case("Line one\r\n\r\nLine two\r\n", ["Line one", "Line two"]),
    # Whitespace only: nothing is spoken.
    Case("   \n\n  \t ", []),
    Case("  Hello   there.  \n ", ["Hello there."]),
    # max_chars: a run-on sentence is cut at clauses, then whitespace, never mid-word.
    Case(
        LONG_RUN_ON + ". Short one.",
        [
            LONG_RUN_ON[: LONG_RUN_ON.index("chance,") + 7],
            LONG_RUN_ON[LONG_RUN_ON.index("chance,") + 8 :] + ".",
            "Short one.",
        ],
    ),
    Case(
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu",
        ["alpha beta gamma delta epsilon", "zeta eta theta iota kappa", "lambda mu"],
        {"max_chars": 30},
    ),
    Case(
        "one two three four five, six seven eight nine ten eleven",
        ["one two three four five,", "six seven eight nine ten", "eleven"],
        {"max_chars": 30},
    ),
    Case(  # a clause boundary in the first half of the window is not worth a short piece
        "one two three, four five six seven eight nine ten eleven",
        ["one two three, four five six", "seven eight nine ten eleven"],
        {"max_chars": 30},
    ),
    Case("x" * 25 + " end.", ["x" * 10, "x" * 10, "xxxxx end."], {"max_chars": 10}, False),
    # first_clause_min_chars: only the first piece may end at a clause boundary.
    Case(
        "Good morning, it is 7:15 and sunny, so wear light clothes. Enjoy your day, okay?",
        ["Good morning,", "it is 7:15 and sunny, so wear light clothes.", "Enjoy your day, okay?"],
        {"first_clause_min_chars": 10},
    ),
    Case(
        "Good morning, it is 7:15 and sunny, so wear light clothes. Enjoy your day, okay?",
        ["Good morning, it is 7:15 and sunny,", "so wear light clothes.", "Enjoy your day, okay?"],
        {"first_clause_min_chars": 20},
    ),
    Case(
        "Good morning, it is 7:15 and sunny, so wear light clothes. Enjoy your day, okay?",
        ["Good morning, it is 7:15 and sunny, so wear light clothes.", "Enjoy your day, okay?"],
    ),
    Case(
        "We sold 1,000,000 units, which is great. Yes.",
        ["We sold 1,000,000 units,", "which is great.", "Yes."],
        {"first_clause_min_chars": 5},
    ),
    Case(
        "Well — I think so; maybe. Yes.",
        ["Well —", "I think so; maybe.", "Yes."],
        {"first_clause_min_chars": 3},
    ),
    Case("A well-known fact: yes.", ["A well-known fact:", "yes."], {"first_clause_min_chars": 3}),
    Case("Hi. Then, later, more.", ["Hi.", "Then, later, more."], {"first_clause_min_chars": 2}),
    Case(
        "今日は、晴れです。",
        ["今日は、", "晴れです。"],
        {"first_clause_min_chars": 3},
        joins_with_spaces=False,
    ),
]


def normalise(text: str) -> str:
    return " ".join(text.split())


def stream(text: str, sizes: list[int], **kwargs: Any) -> list[str]:
    """Feed ``text`` in consecutive chunks of the given sizes (the rest in one), then flush."""
    splitter = SentenceSplitter(**kwargs)
    out: list[str] = []
    pos = 0
    for size in sizes:
        out += splitter.feed(text[pos : pos + size])
        pos += size
    out += splitter.feed(text[pos:])
    return out + splitter.flush()


def assert_covers(text: str, sentences: list[str], joins_with_spaces: bool) -> None:
    """Every character is in exactly one sentence, in order; cuts are at whitespace."""
    norm = normalise(text)
    for sentence in sentences:
        assert sentence, "an empty sentence was emitted"
        assert sentence == normalise(sentence), f"not stripped/normalised: {sentence!r}"
    if joins_with_spaces:
        assert " ".join(sentences) == norm
        return
    pos = 0
    for sentence in sentences:
        assert norm.startswith(sentence, pos), f"{sentence!r} is not next in {norm[pos:]!r}"
        pos += len(sentence)
        if norm[pos : pos + 1] == " ":
            pos += 1
    assert pos == len(norm), f"lost the tail {norm[pos:]!r}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_whole_text(case: Case) -> None:
    sentences = split_sentences(case.text, **case.kwargs)
    assert sentences == case.expected
    assert_covers(case.text, sentences, case.joins_with_spaces)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_single_cut_gives_the_same_sentences(case: Case) -> None:
    whole = split_sentences(case.text, **case.kwargs)
    for cut in range(len(case.text) + 1):
        assert stream(case.text, [cut], **case.kwargs) == whole, f"cut at {cut}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_character_by_character_and_random_chunks(case: Case) -> None:
    whole = split_sentences(case.text, **case.kwargs)
    assert stream(case.text, [1] * len(case.text), **case.kwargs) == whole
    for seed in SEEDS:
        rng = random.Random(seed)
        sizes = [rng.randint(1, 10) for _ in range(len(case.text))]
        result = stream(case.text, sizes, **case.kwargs)
        assert result == whole, f"seed {seed}"
        assert_covers(case.text, result, case.joins_with_spaces)


# -- what a listener waiting for audio notices ----------------------------------------------


def test_a_sentence_is_emitted_as_soon_as_the_next_one_starts() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Dr. Smith arri") == []
    assert splitter.feed("ved. ") == []  # "ved. " could still be "ved. and"
    assert splitter.feed("H") == ["Dr. Smith arrived."]
    assert splitter.feed("e was late.") == []
    assert splitter.flush() == ["He was late."]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["It is 3.", "5 degrees. Nice"], ["It is 3.5 degrees."]),
        (["The U.", "S. economy grew. S"], ["The U.S. economy grew."]),
        (["Meet at 7", ":15. B"], ["Meet at 7:15."]),
        (["Wait.", "..", " what? R"], ["Wait... what?"]),
        (['"Stop!', '" she said. T'], ['"Stop!" she said.']),
        (["Version 1.", "0.2 is out. Y"], ["Version 1.0.2 is out."]),
    ],
)
def test_a_terminator_at_the_end_of_a_chunk_is_not_yet_a_boundary(
    chunks: list[str], expected: list[str]
) -> None:
    splitter = SentenceSplitter()
    emitted = []
    for chunk in chunks[:-1]:
        emitted += splitter.feed(chunk)
    assert emitted == [], "cut before the next chunk could say otherwise"
    assert splitter.feed(chunks[-1]) == expected


def test_cjk_sentence_is_emitted_without_waiting_for_a_space() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("今日は晴れです。") == []  # a closing bracket could still follow
    assert splitter.feed("明") == ["今日は晴れです。"]
    assert splitter.feed("日は雨です！本当？") == ["明日は雨です！"]
    assert splitter.flush() == ["本当？"]


def test_first_clause_is_spoken_early_and_only_once() -> None:
    splitter = SentenceSplitter(first_clause_min_chars=10)
    assert splitter.feed("Good morning,") == []  # "," then "000"? wait for the space
    assert splitter.feed(" it is sunny, warm") == ["Good morning,"]
    assert splitter.feed(", and dry. Bye") == ["it is sunny, warm, and dry."]
    assert splitter.flush() == ["Bye"]


def test_first_clause_needs_the_minimum_length() -> None:
    assert split_sentences("Hi, there, friend. Yes.", 5) == ["Hi, there,", "friend.", "Yes."]
    assert split_sentences("Hi, there, friend. Yes.", 50) == ["Hi, there, friend.", "Yes."]


def test_default_max_chars_bounds_every_sentence() -> None:
    text = " ".join([LONG_RUN_ON] * 3) + "."
    sentences = split_sentences(text)
    assert len(sentences) >= 3
    assert all(len(s) <= 400 for s in sentences)
    words = set(text.replace(",", " ").replace(".", " ").split())
    for sentence in sentences:  # no word was cut in two
        assert sentence.replace(",", " ").replace(".", " ").split()[-1] in words


def test_list_items_each_arrive_as_their_own_sentence() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("You need:\n- eg") == ["You need:"]
    assert splitter.feed("gs\n") == ["- eggs"]  # a list item's line ends with it
    assert splitter.feed("- milk\n") == ["- milk"]
    assert splitter.flush() == []


def test_whitespace_only_stream_emits_nothing() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("   ") == []
    assert splitter.feed("\n\n") == []
    assert splitter.flush() == []


def test_splitter_is_reusable_after_flush() -> None:
    splitter = SentenceSplitter(first_clause_min_chars=3)
    assert splitter.feed("One, two. ") == ["One,"]
    assert splitter.flush() == ["two."]
    # A new stream: the first clause may be cut again.
    assert splitter.feed("Three, four") == ["Three,"]
    assert splitter.flush() == ["four"]


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        SentenceSplitter(max_chars=0)
    with pytest.raises(ValueError, match="first_clause_min_chars"):
        SentenceSplitter(first_clause_min_chars=0)


# -- fuzz: chunking never changes the result -------------------------------------------------

FRAGMENTS = [
    "Dr.",
    "Mr.",
    "U.S.",
    "e.g.",
    "etc.",
    "a.m.",
    "No.",
    "3.5",
    "7:15",
    "v1.0.2",
    "example.com",
    "word",
    "Word",
    "the",
    "It",
    "I",
    "J.",
    "1.",
    "2)",
    "- ",
    "* ",
    "...",
    "…",
    "?!",
    "!",
    "?",
    ".",
    ",",
    ";",
    ":",
    " — ",
    " - ",
    "1,000",
    '"',
    "'",
    "(",
    ")",
    "」",
    "「",
    "。",
    "！",
    "と",
    "你好",
    "今日",
    "\n",
    "\n\n",
    "  ",
    "# ",
    "**",
    "¿",
    "x" * 12,
]


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 40)):
        parts.append(rng.choice(FRAGMENTS))
        parts.append(rng.choice(["", " ", " ", " ", "\n"]))
    return "".join(parts)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_chars": 15},
        {"first_clause_min_chars": 4},
        {"first_clause_min_chars": 1, "max_chars": 8},
    ],
    ids=str,
)
def test_fuzz_chunking_is_invisible(kwargs: dict[str, Any]) -> None:
    rng = random.Random(1234)
    for _ in range(300):
        text = random_text(rng)
        whole = split_sentences(text, **kwargs)
        assert_covers(text, whole, joins_with_spaces=False)
        for cut in range(len(text) + 1):
            assert stream(text, [cut], **kwargs) == whole, (text, cut)
        sizes = [rng.randint(1, 10) for _ in range(len(text))]
        assert stream(text, sizes, **kwargs) == whole, (text, sizes)
        if "max_chars" in kwargs:
            assert all(len(s) <= kwargs["max_chars"] for s in whole), whole


# -- cost: feed() must not rescan the whole stream -------------------------------------------


def test_long_stream_in_small_chunks_is_linear() -> None:
    sentence = "The quick brown fox, who was 3.5 years old, met Dr. Smith at 7:15 in the U.S. "
    run_on = "and then it went on " * 2000  # no boundary at all: max_chars cuts it
    no_spaces = "x" * 40_000  # one endless word: hard cuts
    for text in (sentence * 2000, run_on, no_spaces):
        rng = random.Random(0)
        splitter = SentenceSplitter(first_clause_min_chars=10)
        began = time.perf_counter()
        pos = count = 0
        while pos < len(text):
            size = rng.randint(1, 10)
            count += len(splitter.feed(text[pos : pos + size]))
            pos += size
        count += len(splitter.flush())
        elapsed = time.perf_counter() - began
        assert count >= len(text) // 400
        # Quadratic rescanning of ~150 KB in 1..10-char chunks takes minutes; linear is ~1 s.
        assert elapsed < 15, f"{elapsed:.1f} s for {len(text)} characters"
