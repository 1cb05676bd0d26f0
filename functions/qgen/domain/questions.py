"""Quiz questions as the model writes them: the item model, its validation, duplicate keys.

Pure: no I/O, no clocks, no SDKs. `stream_parser` cuts the model's streamed text into items.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from .cards import CardState


class QuestionType(StrEnum):
    MULTIPLE_CHOICE = "multiple-choice"
    TRUE_FALSE = "true-false"


MULTIPLE_CHOICE_OPTION_COUNT: Final = 4
TRUE_FALSE_OPTIONS: Final = ("True", "False")


class QuestionDraft(BaseModel):
    """One validated question as the model wrote it (trimmed, options in canonical form)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    question: str
    type: QuestionType
    options: list[str]
    correct_answer: str
    explanation: str


class RejectReason(StrEnum):
    """Why a finished item was not accepted. Stable codes: they are counted and logged."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_FIELD_TYPE = "wrong_field_type"
    EMPTY_QUESTION = "empty_question"
    BAD_TYPE = "bad_type"
    WRONG_OPTION_COUNT = "wrong_option_count"
    EMPTY_OPTION = "empty_option"
    DUPLICATE_OPTIONS = "duplicate_options"
    BAD_TRUE_FALSE_OPTIONS = "bad_true_false_options"
    ANSWER_NOT_IN_OPTIONS = "answer_not_in_options"
    DUPLICATE_QUESTION = "duplicate_question"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    # For logs: names fields and counts, never echoes the item's text.
    detail: str


# ----------------------------------------------------------------------------- normalisation


def _fold(text: str) -> str:
    """Caseless, compatibility-normalised text with runs of whitespace collapsed to one space."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


_TRAILING_PUNCTUATION: Final = ".?!;: "


def normalise_question_text(text: str) -> str:
    """The key two questions share when they are the same question.

    NFKC + casefold (so "É"/"é" and full-width forms match), whitespace collapsed, and trailing
    sentence punctuation (. ? ! ; :) stripped, so "What is X?" and "what is  x" collide.
    Nothing else is removed: inner punctuation and wording differences make different keys.
    """
    return _fold(text).rstrip(_TRAILING_PUNCTUATION)


# -------------------------------------------------------------------------------- validation

# The wire names of the item's fields, from the model (the model's response schema too).
_FIELDS: Final = tuple(str(f.alias) for f in QuestionDraft.model_fields.values())
_STRING_FIELDS: Final = tuple(name for name in _FIELDS if name != "options")
_TYPES_BY_FOLDED: Final = {_fold(t.value): t for t in QuestionType}
_TRUE_FALSE_BY_FOLDED: Final = {_fold(o): o for o in TRUE_FALSE_OPTIONS}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_item(raw: object) -> QuestionDraft | Rejection:
    """Check one finished item against the protocol's rules; never raises.

    Keys other than the five fields are ignored. Strings are trimmed; the type and the
    true/false options are matched caselessly and stored in canonical form; the answer is
    matched caselessly against the options and stored as the option's text.
    """
    if not isinstance(raw, dict):
        return Rejection(RejectReason.NOT_AN_OBJECT, f"item is a {_json_kind(raw)}")
    missing = [name for name in _FIELDS if name not in raw]
    if missing:
        return Rejection(RejectReason.MISSING_FIELD, "missing " + ", ".join(missing))
    for name in _STRING_FIELDS:
        if not isinstance(raw[name], str):
            kind = _json_kind(raw[name])
            return Rejection(RejectReason.WRONG_FIELD_TYPE, f"{name} is a {kind}, not a string")
    raw_options = raw["options"]
    if not isinstance(raw_options, list) or not all(isinstance(o, str) for o in raw_options):
        return Rejection(RejectReason.WRONG_FIELD_TYPE, "options is not an array of strings")

    question: str = raw["question"].strip()
    if not normalise_question_text(question):
        return Rejection(RejectReason.EMPTY_QUESTION, "question has no text")
    question_type = _TYPES_BY_FOLDED.get(_fold(raw["type"]))
    if question_type is None:
        return Rejection(RejectReason.BAD_TYPE, "type is not multiple-choice or true-false")

    options_or_rejection = (
        _multiple_choice_options(raw_options)
        if question_type is QuestionType.MULTIPLE_CHOICE
        else _true_false_options(raw_options)
    )
    if isinstance(options_or_rejection, Rejection):
        return options_or_rejection
    options = options_or_rejection

    by_folded = {_fold(option): option for option in options}
    answer = by_folded.get(_fold(raw["correctAnswer"]))
    if answer is None:
        return Rejection(RejectReason.ANSWER_NOT_IN_OPTIONS, "correctAnswer is not an option")

    return QuestionDraft(
        question=question,
        type=question_type,
        options=options,
        correct_answer=answer,
        explanation=raw["explanation"].strip(),
    )


def _multiple_choice_options(raw_options: list[str]) -> list[str] | Rejection:
    if len(raw_options) != MULTIPLE_CHOICE_OPTION_COUNT:
        return Rejection(
            RejectReason.WRONG_OPTION_COUNT,
            f"{len(raw_options)} options, expected {MULTIPLE_CHOICE_OPTION_COUNT}",
        )
    options = [option.strip() for option in raw_options]
    if not all(options):
        return Rejection(RejectReason.EMPTY_OPTION, "an option is empty")
    if len({_fold(option) for option in options}) != len(options):
        return Rejection(RejectReason.DUPLICATE_OPTIONS, "options are not distinct")
    return options


def _true_false_options(raw_options: list[str]) -> list[str] | Rejection:
    folded = [_fold(option) for option in raw_options]
    if sorted(folded) != sorted(_TRUE_FALSE_BY_FOLDED):
        return Rejection(RejectReason.BAD_TRUE_FALSE_OPTIONS, 'options are not ["True", "False"]')
    return list(TRUE_FALSE_OPTIONS)


class SavedQuestion(CardState):
    """questions/{questionId}: a validated question, whose job it came from, and its card."""

    user_id: str
    generation_job_id: str
    topic: str
    question: str
    type: QuestionType
    options: list[str]
    correct_answer: str
    explanation: str
    generated_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, draft: QuestionDraft, *, job_id: str, user_id: str, topic: str, now: datetime
    ) -> SavedQuestion:
        return cls(
            user_id=user_id,
            generation_job_id=job_id,
            topic=topic,
            generated_at=now,
            updated_at=now,
            **draft.model_dump(),
            **CardState.new(now).model_dump(),
        )
