"""The NATO (ICAO) phonetic alphabet: 26 letters, three questions each."""

from __future__ import annotations

from .base import Deck, Question, build_deck, multiple_choice, others, rng, true_false

CODE_WORDS: tuple[tuple[str, str], ...] = (
    ("A", "Alfa"),
    ("B", "Bravo"),
    ("C", "Charlie"),
    ("D", "Delta"),
    ("E", "Echo"),
    ("F", "Foxtrot"),
    ("G", "Golf"),
    ("H", "Hotel"),
    ("I", "India"),
    ("J", "Juliett"),
    ("K", "Kilo"),
    ("L", "Lima"),
    ("M", "Mike"),
    ("N", "November"),
    ("O", "Oscar"),
    ("P", "Papa"),
    ("Q", "Quebec"),
    ("R", "Romeo"),
    ("S", "Sierra"),
    ("T", "Tango"),
    ("U", "Uniform"),
    ("V", "Victor"),
    ("W", "Whiskey"),
    ("X", "X-ray"),
    ("Y", "Yankee"),
    ("Z", "Zulu"),
)

NOTES: dict[str, str] = {
    "A": " It is spelled Alfa, not Alpha, so that speakers of every language pronounce it alike.",
    "J": " It is spelled Juliett, with two t's, so that French speakers do not drop the final t.",
}

KEYWORDS = (
    r"\bnato\b",
    r"phonetic alphabet",
    r"spelling alphabet",
    r"radio alphabet",
    r"\bicao\b",
    r"\balfa\b.{0,3}\bbravo\b",
)


def _questions() -> list[Question]:
    r = rng("nato")
    letters = [letter for letter, _ in CODE_WORDS]
    words = [word for _, word in CODE_WORDS]
    by_letter = dict(CODE_WORDS)
    questions: list[Question] = []
    for letter, word in CODE_WORDS:
        note = NOTES.get(letter, "")
        questions.append(
            multiple_choice(
                r,
                f"What is the NATO phonetic alphabet code word for the letter {letter}?",
                word,
                others(r, words, word, 3),
                f"{letter} is {word} in the NATO phonetic alphabet.{note}",
            )
        )
        questions.append(
            multiple_choice(
                r,
                f"Which letter does the NATO code word {word} stand for?",
                letter,
                others(r, letters, letter, 3),
                f"{word} stands for the letter {letter}.{note}",
            )
        )
        if r.random() < 0.5:
            questions.append(
                true_false(
                    f"In the NATO phonetic alphabet, {word} stands for the letter {letter}.",
                    True,
                    f"{word} is the code word for {letter}.",
                )
            )
        else:
            wrong = others(r, letters, letter, 1)[0]
            questions.append(
                true_false(
                    f"In the NATO phonetic alphabet, {word} stands for the letter {wrong}.",
                    False,
                    f"{word} stands for {letter}; {wrong} is {by_letter[wrong]}.",
                )
            )
    return questions


DECK: Deck = build_deck(
    "nato",
    "NATO phonetic alphabet",
    "Learn the 26 code words of the NATO (ICAO) phonetic alphabet, from Alfa to Zulu.",
    KEYWORDS,
    _questions(),
)
