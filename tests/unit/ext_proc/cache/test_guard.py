"""The near-miss guard: normalization, each refusal rule, each trap class, and accepted re-typed repeats."""

from __future__ import annotations

import pytest

from ext_proc.cache.guard import IDENTICAL_FLOOR, MatchDecision, guard_supports, normalize, semantic_match

HIGH = 0.97  # a cosine above any sane threshold: only the lexical rules can refuse
T = 0.90


def decide(stored: str, query: str, similarity: float = HIGH) -> MatchDecision:
    return semantic_match(stored, query, similarity, T)


def test_decision_is_a_frozen_value() -> None:
    decision = decide("What is 2+2?", "what is 2 + 2")
    assert decision == MatchDecision(True, "identical_normalized")
    with pytest.raises(AttributeError):
        decision.accepted = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Hey, can you tell me what's 2+2? Thanks!", ("what", "is", "2", "+", "2")),
        ("what is two plus two", ("what", "is", "2", "+", "2")),
        ("twenty five x 3", ("25", "*", "3")),
        ("two hundred and five", ("205",)),
        ("1,000 and 3.50", ("1000", "and", "3.5")),
        ("I can't, I won't, I don't", ("i", "cannot", "i", "will", "not", "i", "do", "not")),
        ("How do I reverse a list?", ("how", "to", "reverse", "a", "list")),
        ("which one is better", ("what", "one", "is", "better")),
        ("the 1st item", ("the", "first", "item")),
        ("2 to the power of 10", ("2", "^", "10")),
        ("covid-19 vs well-known", ("covid", "19", "vs", "well", "known")),
        ("\uff37\uff28\uff21\uff34\u2019S up", ("what", "is", "up")),  # full-width, curly apostrophe
    ],
)
def test_normalize(text: str, tokens: tuple[str, ...]) -> None:
    assert normalize(text) == tokens


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("What is the capital of France?", "what is the capital of france"),
        ("Please explain what a closure is in JavaScript.", "Explain what a closure is in JavaScript"),
        ("I can't log in to my account", "I cannot log in to my account!"),
        ("How do I convert a string to an int in Java?", "How can I convert a string to an int in Java?"),
        ("Hi! What is compound interest? Thanks", "what is compound interest"),
        ("Can you tell me how to boil an egg?", "How to boil an egg?"),
    ],
)
def test_case_punctuation_filler_and_contractions_are_accepted_even_at_low_cosine(
    stored: str, query: str
) -> None:
    assert decide(stored, query, similarity=0.65) == MatchDecision(True, "identical_normalized")


def test_identical_normalized_below_the_floor_is_refused() -> None:
    decision = decide("What is a mutex?", "what is a mutex", similarity=IDENTICAL_FLOOR - 0.01)
    assert not decision.accepted


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("How do I undo the last git commit?", "How do I undo the last git commmit?"),  # doubled letter
        ("What is the time complexity of binary search?", "What is the time complexity of binary serach?"),
        ("How do I reset my password?", "how do i reset my pasword"),
        ("What are the symptoms of dehydration?", "what are the symptons of dehydration"),  # n/m adjacent
        ("How do I merge two dictionaries in Python?", "How do I merge two dictonaries in Python?"),
    ],
)
def test_keyboard_typos_are_accepted(stored: str, query: str) -> None:
    assert decide(stored, query, similarity=0.8) == MatchDecision(True, "typos_only")


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("How do I parse a date in Python?", "How do I parse data in Python?"),  # e/a are not neighbours
        ("What is the capital of Gambia?", "What is the capital of Zambia?"),  # first letter changed
        ("What is the currency of Iran?", "What is the currency of Iraq?"),
        ("What is the capital of Slovakia?", "What is the capital of Slovenia?"),
        ("Is the cat on the mat?", "Is the car on the mat?"),  # too short for a typo
    ],
)
def test_real_words_one_edit_apart_are_not_typos(stored: str, query: str) -> None:
    assert decide(stored, query) == MatchDecision(False, "few_words_changed")


@pytest.mark.parametrize(
    ("stored", "query", "reason"),
    [
        # numbers
        ("What is 2+2?", "What is 2+3?", "numbers_differ"),
        ("What is 10 - 3?", "What is 10 + 3?", "numbers_differ"),
        ("What is twenty plus five?", "What is twenty plus six?", "numbers_differ"),
        ("Calculate 6% of $20,000", "Calculate 7% of $20,000", "numbers_differ"),
        # dates
        ("Who won the World Cup in 2018?", "Who won the World Cup in 2022?", "numbers_differ"),
        ("What's the weather forecast for today?", "What's the weather forecast for tomorrow?", "antonym"),
        ("Schedule a meeting for Monday at 10am", "Schedule a meeting for Tuesday at 10am", "antonym"),
        ("What holidays are in December?", "What holidays are in November?", "antonym"),
        ("Who is the president of France?", "Who was the president of France?", "antonym"),
        # negation
        ("How do I make pancakes with eggs?", "How do I make pancakes without eggs?", "negation_differs"),
        ("Why does my code work?", "Why doesn't my code work?", "negation_differs"),
        ("Which vegetables can be eaten raw?", "Which vegetables cannot be eaten raw?", "negation_differs"),
        ("Stocks that pay dividends", "Stocks that pay no dividends", "negation_differs"),
        # antonyms
        ("Sort a list in ascending order", "Sort a list in descending order", "antonym"),
        ("How do I enable 2FA?", "How do I disable 2FA?", "antonym"),
        ("Find the maximum value in an array", "Find the minimum value in an array", "antonym"),
        ("Is now a good time to buy gold?", "Is now a good time to sell gold?", "antonym"),
        ("How do I encrypt a file?", "How do I decrypt a file?", "antonym"),
        (
            "What are the pros of a fixed-rate mortgage?",
            "What are the cons of a fixed-rate mortgage?",
            "antonym",
        ),
        # unit direction (and unit swaps)
        ("Convert 10 miles to km", "Convert 10 km to miles", "word_order"),
        ("Convert 100 Fahrenheit to Celsius", "Convert 100 Celsius to Fahrenheit", "word_order"),
        ("How many meters is 10 km?", "How many miles is 10 km?", "antonym"),
        ("Convert 5 feet to cm", "Convert 5 inches to cm", "antonym"),
        # order / entity direction
        ("Flights from Paris to London", "Flights from London to Paris", "word_order"),
        ("What is 2 to the power of 10?", "What is 10 to the power of 2?", "word_order"),
        ("Is Python faster than Java?", "Is Java faster than Python?", "word_order"),
        # entity swaps
        ("What is the capital of France?", "What is the capital of Spain?", "few_words_changed"),
        ("How do I reverse a list in Python?", "How do I reverse a list in JavaScript?", "few_words_changed"),
        ("Who wrote Pride and Prejudice?", "Who wrote Sense and Sensibility?", "few_words_changed"),
        # scope
        ("List all users", "List all active users", "few_words_changed"),
        ("List all active users", "List all inactive users", "antonym"),
        ("Delete all users", "Delete all admin users", "few_words_changed"),
        ("Sort the array", "Sort the array in place", "few_words_changed"),
        (
            "Write a function to reverse a string",
            "Write a function to reverse each word in a string",
            "few_words_changed",
        ),
        # pronouns
        ("What is my name?", "What is your name?", "antonym"),
    ],
)
def test_traps_are_refused_at_any_cosine(stored: str, query: str, reason: str) -> None:
    # Numbers written with symbols ("2+2", "$20,000") are caught by the ordered symbol rule first.
    expected = {reason, "symbols_differ"} if reason == "numbers_differ" else {reason}
    for a, b in ((stored, query), (query, stored)):
        decision = decide(a, b, similarity=0.999)
        assert not decision.accepted
        assert decision.reason in expected


def test_deeper_rewordings_fall_back_to_the_threshold() -> None:
    stored = "What's a good way to start investing with little money?"
    query = "How can a beginner start investing with a small amount of money?"
    assert decide(stored, query, similarity=0.93) == MatchDecision(True, "similar")
    assert decide(stored, query, similarity=0.89) == MatchDecision(False, "below_threshold")
    assert semantic_match(stored, query, 0.93, 0.95) == MatchDecision(False, "below_threshold")


def test_same_content_words_with_different_stopwords_use_the_threshold() -> None:
    assert decide("Tell me a fun fact about octopuses.", "Fun fact about octopuses?", 0.95).accepted
    assert not decide("Tell me a fun fact about octopuses.", "Fun fact about octopuses?", 0.85).accepted


def test_nothing_left_after_normalization_is_refused() -> None:
    assert decide("Hi!", "Thanks!", similarity=0.99) == MatchDecision(False, "nothing_to_compare")


@pytest.mark.parametrize(
    ("text", "supported"),
    [
        ("What is the capital of France?", True),
        ("2+2=?", True),
        ("", True),
        ("Quelle est la capitale de la France ?", False),
        ("Wie ist das Wetter in Berlin und ist es nicht kalt?", False),
        ("¿Cuál es la capital de España?", False),
        ("東京の人口は\uff1f", False),
        ("Что такое мьютекс?", False),
    ],
)
def test_guard_supports(text: str, supported: bool) -> None:
    assert guard_supports(text) is supported


def test_unsupported_language_is_refused_even_when_identical_after_normalization() -> None:
    decision = decide("東京の人口は\uff1f", "東京の人口は?", similarity=0.99)
    assert decision == MatchDecision(False, "unsupported_language")


def test_long_prompts_are_fast() -> None:
    import time

    long = "Refactor this function to use a list comprehension and explain every step in detail. " * 40
    started = time.perf_counter()
    for _ in range(10):
        semantic_match(long, long + " Please be brief.", 0.95, T)
    assert (time.perf_counter() - started) / 10 < 0.01


@pytest.mark.parametrize(
    ("stored", "new"),
    [
        ("What is (2+3)*4?", "What is 2+(3*4)?"),
        ("print(a[1:])", "print(a[:1])"),
        ("what does a && b return", "what does a || b return"),
        ("What is F#?", "What is F?"),
        ("what is ~5 in python", "what is 5 in python"),
        ("Explain the C++ expression i++ + ++i", "Explain the C++ expression ++i + i++"),
    ],
)
def test_code_and_math_differing_in_symbols_or_their_order_are_refused(stored: str, new: str) -> None:
    decision = semantic_match(stored, new, 0.99, 0.9)
    assert not decision.accepted
    assert decision.reason in {"symbols_differ", "code_differs"}


def test_code_retyped_with_other_case_and_spacing_is_accepted() -> None:
    assert semantic_match("What does print(a[1:]) do?", "what does  print(a[1:]) do", 0.95, 0.9).accepted
