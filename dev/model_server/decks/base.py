"""What a deck is: a fixed, seeded, ordered list of well-formed quiz questions."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

QuestionType = Literal["multiple-choice", "true-false"]
TRUE_FALSE_OPTIONS: tuple[str, str] = ("True", "False")


@dataclass(frozen=True)
class Question:
    question: str
    type: QuestionType
    options: tuple[str, ...]
    correct_answer: str
    explanation: str

    def to_json(self) -> dict[str, Any]:
        """The item exactly as the model writes it (docs/model-protocol.md, section 2)."""
        return {
            "question": self.question,
            "type": self.type,
            "options": list(self.options),
            "correctAnswer": self.correct_answer,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class Deck:
    key: str
    title: str
    intent: str
    # Regular expressions searched (case-insensitively) in the learner's request.
    keywords: tuple[str, ...]
    questions: tuple[Question, ...]

    def __len__(self) -> int:
        return len(self.questions)

    def first_match(self, text: str) -> int | None:
        """Position of the earliest keyword match in `text`, or None."""
        positions = [
            m.start()
            for pattern in self.keywords
            if (m := re.search(pattern, text, flags=re.IGNORECASE)) is not None
        ]
        return min(positions) if positions else None


def rng(seed: str) -> random.Random:
    """A private, seeded generator: decks must not depend on global random state."""
    return random.Random(seed)  # noqa: S311 - reproducible test data, not security


def multiple_choice(
    r: random.Random,
    question: str,
    correct: str,
    distractors: Sequence[str],
    explanation: str,
) -> Question:
    """Exactly four distinct options: the answer and the first three usable distractors."""
    options = [correct]
    for candidate in distractors:
        if candidate not in options:
            options.append(candidate)
        if len(options) == 4:
            break
    if len(options) != 4:
        raise ValueError(f"not enough distinct distractors for {question!r}")
    r.shuffle(options)
    return Question(question, "multiple-choice", tuple(options), correct, explanation)


def true_false(question: str, truth: bool, explanation: str) -> Question:
    return Question(
        question, "true-false", TRUE_FALSE_OPTIONS, "True" if truth else "False", explanation
    )


def others(r: random.Random, pool: Sequence[str], exclude: str, k: int) -> list[str]:
    """`k` random members of `pool` other than `exclude`, in a random order."""
    rest = [item for item in pool if item != exclude]
    return r.sample(rest, k)


def build_deck(
    key: str,
    title: str,
    intent: str,
    keywords: Sequence[str],
    questions: Sequence[Question],
) -> Deck:
    """Interleave the question kinds (seeded shuffle) and check the deck's invariants."""
    ordered = list(questions)
    rng(f"deck-order:{key}").shuffle(ordered)
    deck = Deck(key, title, intent, tuple(keywords), tuple(ordered))
    problems = [problem for q in deck.questions for problem in validate(q.to_json())]
    problems += [f"no explanation: {q.question}" for q in deck.questions if not q.explanation]
    texts = [normalise(q.question) for q in deck.questions]
    if len(set(texts)) != len(texts):
        problems.append("duplicate question texts")
    if problems:
        raise ValueError(f"deck {key} is malformed: {problems[:5]}")
    return deck


def normalise(text: str) -> str:
    """How question texts are compared: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def validate(item: object) -> list[str]:
    """The rules of docs/model-protocol.md for one finished item; [] when it is valid.

    The contract does not require an explanation, so neither does this; decks always have one.
    """
    if not isinstance(item, dict):
        return ["item is not an object"]
    problems: list[str] = []
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.append("question is empty")
    options = item.get("options")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        problems.append("options is not a list of strings")
        options = []
    kind = item.get("type")
    if kind == "multiple-choice":
        if len(options) != 4 or len(set(options)) != 4:
            problems.append("multiple-choice needs exactly 4 distinct options")
    elif kind == "true-false":
        if options != list(TRUE_FALSE_OPTIONS):
            problems.append('true-false options must be exactly ["True", "False"]')
    else:
        problems.append(f"unknown type {kind!r}")
    if item.get("correctAnswer") not in options:
        problems.append("correctAnswer is not one of the options")
    return problems
