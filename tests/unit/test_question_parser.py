from __future__ import annotations

import contextlib
import itertools
import json
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import from_json
from qgen.domain.questions import (
    QuestionDraft,
    QuestionType,
    Rejection,
    RejectReason,
    normalise_question_text,
    validate_item,
)
from qgen.domain.stream_parser import (
    AcceptedItem,
    ParsedItem,
    RejectedItem,
    StreamFormatError,
    StreamParser,
)

R = RejectReason
Item = dict[str, object]
# How a stream in a given wrapper ends: parsed (its one item accepted), or StreamFormatError.
TOLERATED: AbstractContextManager[object] = contextlib.nullcontext()
NOT_ONE_ARRAY: AbstractContextManager[object] = pytest.raises(StreamFormatError)


def mc(
    question: str = "What is the NATO code word for A?",
    options: Sequence[str] = ("Alfa", "Bravo", "Charlie", "Delta"),
    answer: str = "Alfa",
    explanation: str = "A is Alfa.",
) -> Item:
    return {
        "question": question,
        "type": "multiple-choice",
        "options": list(options),
        "correctAnswer": answer,
        "explanation": explanation,
    }


def tf(question: str = "Zulu stands for Z.", answer: str = "True") -> Item:
    return {
        "question": question,
        "type": "true-false",
        "options": ["True", "False"],
        "correctAnswer": answer,
        "explanation": "Z is Zulu.",
    }


def without(item: Item, field: str) -> Item:
    return {k: v for k, v in item.items() if k != field}


def draft_of(item: Item) -> QuestionDraft:
    """The draft a valid, already-canonical item becomes."""
    return QuestionDraft.model_validate(item)


def run(
    chunks: Sequence[str], *, complete: bool = True, seen: set[str] | None = None
) -> list[ParsedItem]:
    parser = StreamParser(seen=seen)
    out: list[ParsedItem] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out + parser.finish(complete=complete)


def split_at(text: str, *cuts: int) -> list[str]:
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def accepted(items: Sequence[ParsedItem]) -> list[QuestionDraft]:
    return [i.draft for i in items if isinstance(i, AcceptedItem)]


def reasons(items: Sequence[ParsedItem]) -> list[RejectReason | None]:
    return [i.reason if isinstance(i, RejectedItem) else None for i in items]


# ------------------------------------------------------------------------------- validation


class TestValidateItem:
    def test_accepts_a_multiple_choice_item(self) -> None:
        assert validate_item(mc()) == QuestionDraft(
            question="What is the NATO code word for A?",
            type=QuestionType.MULTIPLE_CHOICE,
            options=["Alfa", "Bravo", "Charlie", "Delta"],
            correct_answer="Alfa",
            explanation="A is Alfa.",
        )

    def test_accepts_a_true_false_item(self) -> None:
        draft = validate_item(tf(answer="False"))
        assert isinstance(draft, QuestionDraft)
        assert (draft.type, draft.options, draft.correct_answer) == (
            QuestionType.TRUE_FALSE,
            ["True", "False"],
            "False",
        )

    def test_dumps_with_the_protocol_field_names(self) -> None:
        draft = validate_item(mc())
        assert isinstance(draft, QuestionDraft)
        assert draft.model_dump(by_alias=True, mode="json") == mc()

    def test_trims_strings_and_stores_canonical_forms(self) -> None:
        raw = {
            "question": "  What is A?\n",
            "type": " Multiple-Choice ",
            "options": [" Alfa ", "Bravo", "Charlie", "Delta\t"],
            "correctAnswer": "  ALFA ",
            "explanation": "\n A is Alfa. ",
        }
        assert validate_item(raw) == QuestionDraft(
            question="What is A?",
            type=QuestionType.MULTIPLE_CHOICE,
            options=["Alfa", "Bravo", "Charlie", "Delta"],
            correct_answer="Alfa",
            explanation="A is Alfa.",
        )

    @pytest.mark.parametrize(
        ("options", "answer"),
        [
            (["true", "false"], "true"),
            (["TRUE", " False "], "FALSE"),
            (["False", "True"], "False"),
        ],
    )
    def test_true_false_options_in_any_case_or_order_become_canonical(
        self, options: list[str], answer: str
    ) -> None:
        draft = validate_item({**tf(), "options": options, "correctAnswer": answer})
        assert isinstance(draft, QuestionDraft)
        assert draft.options == ["True", "False"]
        assert draft.correct_answer == answer.strip().capitalize()

    def test_ignores_unknown_keys(self) -> None:
        assert validate_item({**mc(), "difficulty": "easy", "id": 3}) == draft_of(mc())

    def test_an_empty_explanation_is_allowed(self) -> None:
        draft = validate_item({**mc(), "explanation": "  "})
        assert isinstance(draft, QuestionDraft)
        assert draft.explanation == ""

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            pytest.param([mc()], R.NOT_AN_OBJECT, id="array"),
            pytest.param("What is A?", R.NOT_AN_OBJECT, id="string"),
            pytest.param(3, R.NOT_AN_OBJECT, id="number"),
            pytest.param(None, R.NOT_AN_OBJECT, id="null"),
            pytest.param(without(mc(), "question"), R.MISSING_FIELD, id="no-question"),
            pytest.param(without(mc(), "type"), R.MISSING_FIELD, id="no-type"),
            pytest.param(without(mc(), "options"), R.MISSING_FIELD, id="no-options"),
            pytest.param(without(mc(), "correctAnswer"), R.MISSING_FIELD, id="no-answer"),
            pytest.param(without(mc(), "explanation"), R.MISSING_FIELD, id="no-explanation"),
            pytest.param(
                {**without(mc(), "correctAnswer"), "correct_answer": "Alfa"},
                R.MISSING_FIELD,
                id="snake-case-answer",
            ),
            pytest.param({**mc(), "question": 1}, R.WRONG_FIELD_TYPE, id="question-number"),
            pytest.param({**mc(), "type": None}, R.WRONG_FIELD_TYPE, id="type-null"),
            pytest.param({**mc(), "options": "Alfa"}, R.WRONG_FIELD_TYPE, id="options-string"),
            pytest.param(
                {**mc(), "options": ["Alfa", "Bravo", "Charlie", 4]},
                R.WRONG_FIELD_TYPE,
                id="option-number",
            ),
            pytest.param({**tf(), "correctAnswer": True}, R.WRONG_FIELD_TYPE, id="answer-bool"),
            pytest.param({**mc(), "explanation": None}, R.WRONG_FIELD_TYPE, id="expl-null"),
            pytest.param({**mc(), "question": ""}, R.EMPTY_QUESTION, id="question-empty"),
            pytest.param({**mc(), "question": " \n\t"}, R.EMPTY_QUESTION, id="question-blank"),
            pytest.param({**mc(), "question": " ?! "}, R.EMPTY_QUESTION, id="question-only-?"),
            pytest.param({**mc(), "type": "essay"}, R.BAD_TYPE, id="type-essay"),
            pytest.param({**mc(), "type": ""}, R.BAD_TYPE, id="type-empty"),
            pytest.param({**mc(), "type": "multiple_choice"}, R.BAD_TYPE, id="type-underscore"),
            pytest.param(mc(options=["Alfa", "Bravo", "Charlie"]), R.WRONG_OPTION_COUNT, id="3"),
            pytest.param(
                mc(options=["Alfa", "Bravo", "Charlie", "Delta", "Echo"]),
                R.WRONG_OPTION_COUNT,
                id="5",
            ),
            pytest.param(mc(options=[]), R.WRONG_OPTION_COUNT, id="0"),
            pytest.param(
                {**tf(), "type": "multiple-choice"}, R.WRONG_OPTION_COUNT, id="mc-with-tf-options"
            ),
            pytest.param(mc(options=["Alfa", " ", "Charlie", "Delta"]), R.EMPTY_OPTION, id="blank"),
            pytest.param(
                mc(options=["Alfa", "Bravo", " alfa ", "Delta"]),
                R.DUPLICATE_OPTIONS,
                id="dup-case-space",
            ),
            pytest.param(
                mc(options=["Alfa", "New  York", "new york", "Delta"]),
                R.DUPLICATE_OPTIONS,
                id="dup-inner-space",
            ),
            pytest.param({**tf(), "options": ["Yes", "No"]}, R.BAD_TRUE_FALSE_OPTIONS, id="yes-no"),
            pytest.param({**tf(), "options": ["True"]}, R.BAD_TRUE_FALSE_OPTIONS, id="one"),
            pytest.param(
                {**tf(), "options": ["True", "False", "Maybe"]},
                R.BAD_TRUE_FALSE_OPTIONS,
                id="three",
            ),
            pytest.param({**tf(), "options": ["True", "True"]}, R.BAD_TRUE_FALSE_OPTIONS, id="TT"),
            pytest.param(
                {**tf(), "type": "true-false", "options": ["Alfa", "Bravo", "Charlie", "Delta"]},
                R.BAD_TRUE_FALSE_OPTIONS,
                id="tf-with-mc-options",
            ),
            pytest.param(mc(answer="Echo"), R.ANSWER_NOT_IN_OPTIONS, id="mc-answer"),
            pytest.param(mc(answer=""), R.ANSWER_NOT_IN_OPTIONS, id="mc-answer-empty"),
            pytest.param(tf(answer="Yes"), R.ANSWER_NOT_IN_OPTIONS, id="tf-answer"),
        ],
    )
    def test_rejects(self, raw: object, reason: RejectReason) -> None:
        result = validate_item(raw)
        assert isinstance(result, Rejection)
        assert result.reason is reason
        assert result.detail


class TestNormaliseQuestionText:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("What is A?", "what is a"),
            ("What is A?", "  WHAT   is\tA ?! "),
            ("Zulu stands for Z.", "zulu stands for z"),
            ("Straße?", "STRASSE"),
            ("Café", "Cafe\u0301"),  # composed vs decomposed é
            ("Ｗhat is A？", "what is a"),  # full-width forms
        ],
    )
    def test_same_question(self, a: str, b: str) -> None:
        assert normalise_question_text(a) == normalise_question_text(b)

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("What is A?", "What is B?"),
            ("What is 3.14?", "What is 314?"),
            ("Is it A, or B?", "Is it A or B?"),
        ],
    )
    def test_different_questions(self, a: str, b: str) -> None:
        assert normalise_question_text(a) != normalise_question_text(b)


# ---------------------------------------------------------------------------- the parser


ITEMS = [
    mc(),
    tf(),
    mc(
        question='He wrote "}, {" and "]" and a \\ then ] {[',
        options=["é", "😀", "\u00e9\u0301", "a\nb"],
        answer="😀",
        explanation='tab\there, quote " and unicode escape é',
    ),
    tf(question="Ünïcødé — 東京 is in Japan 🇯🇵.", answer="True"),
]

SCALARS = '[12, true, null, -3.5e-2, {"a": 1}]'


class TestStreamParser:
    def test_a_whole_stream_in_one_chunk(self) -> None:
        out = run([json.dumps(ITEMS)])
        assert accepted(out) == [draft_of(i) for i in ITEMS]
        assert [i.index for i in out] == [0, 1, 2, 3]

    @pytest.mark.parametrize("ensure_ascii", [True, False])
    @pytest.mark.parametrize("indent", [None, 2])
    def test_every_two_way_split_gives_the_same_items(
        self, ensure_ascii: bool, indent: int | None
    ) -> None:
        text = json.dumps(ITEMS, ensure_ascii=ensure_ascii, indent=indent)
        expected = run([text])
        assert len(accepted(expected)) == len(ITEMS)
        for cut in range(len(text) + 1):
            assert run(split_at(text, cut)) == expected, cut

    def test_one_character_chunks(self) -> None:
        text = json.dumps(ITEMS, ensure_ascii=True)
        assert run(list(text)) == run([text])

    @pytest.mark.parametrize(
        ("anchor", "offset"),
        [
            pytest.param('"He wrote', 4, id="inside-string"),
            pytest.param('\\"}, {', 1, id="between-backslash-and-quote"),
            pytest.param('\\"}, {', 2, id="right-after-escaped-quote"),
            pytest.param('"}, {\\"', 3, id="inside-string-that-looks-like-item-end"),
            pytest.param("\\\\ then", 1, id="between-escaped-backslashes"),
            pytest.param("\\u00e9", 1, id="between-backslash-and-u"),
            pytest.param("\\u00e9", 4, id="inside-unicode-escape"),
            pytest.param("\\ud83d\\ude00", 6, id="between-surrogate-escapes"),
            pytest.param("}, {", 1, id="right-after-comma"),
            pytest.param("}, {", 2, id="between-items"),
            pytest.param("}, {", 3, id="right-after-next-item-began"),
        ],
    )
    def test_chunk_boundaries(self, anchor: str, offset: int) -> None:
        text = json.dumps(ITEMS, ensure_ascii=True)
        cut = text.index(anchor) + offset
        assert run(split_at(text, cut, cut + 1)) == run([text])

    @pytest.mark.parametrize("cut", range(1, len(SCALARS)))
    def test_chunk_boundaries_inside_numbers_and_keywords(self, cut: int) -> None:
        out = run(split_at(SCALARS, cut))
        assert [i.index for i in out] == [0, 1, 2, 3, 4]
        assert reasons(out) == [R.NOT_AN_OBJECT] * 4 + [R.MISSING_FIELD]

    def test_multibyte_text_split_between_every_character(self) -> None:
        text = json.dumps([mc(question="東京は日本の首都ですか？🇯🇵"), tf()], ensure_ascii=False)
        out = run(list(text))
        assert accepted(out)[0].question == "東京は日本の首都ですか？🇯🇵"

    def test_an_item_is_out_as_soon_as_its_closing_brace_arrives(self) -> None:
        parser = StreamParser()
        first, second = json.dumps(mc()), json.dumps(tf())
        assert parser.feed("[" + first[:-1]) == []
        out = parser.feed("}")
        assert [(i.index, accepted([i])) for i in out] == [(0, [draft_of(mc())])]
        assert parser.feed(",") == []
        assert parser.feed(" \n ") == []
        assert parser.feed("{") == []
        assert accepted(parser.feed(second[1:])) == [draft_of(tf())]
        assert parser.feed("]") == []
        assert parser.feed("\n") == []
        assert parser.finish(complete=True) == []

    def test_a_brace_inside_the_item_does_not_finish_it(self) -> None:
        braces = mc(question="What does {x} print in an f-string}")
        text = "[" + json.dumps(braces)
        for cut in (text.index("{x}") + 3, text.index("string}") + 7):
            assert StreamParser().feed(text[:cut]) == []
        nested = '[{"question": "q", "extra": {"a": [1, {"b": 2}]}'
        parser = StreamParser()
        assert parser.feed(nested) == []
        assert reasons(parser.feed("}")) != []  # the item closes only with its own brace
        escaped = '[{"question": "a \\" } quote'
        assert StreamParser().feed(escaped + "}") == []

    def test_the_last_item_of_an_envelope_is_out_at_its_brace(self) -> None:
        parser = StreamParser(envelope=True)
        head = '{"topic": "T", "count": 2, "questions": ['
        assert parser.feed(head + json.dumps(mc())) != []
        assert accepted(parser.feed(", " + json.dumps(tf()))) == [draft_of(tf())]
        assert parser.feed("]}") == []

    def test_a_truncated_stream_keeps_each_whole_item_and_none_cut_short(self) -> None:
        text = json.dumps([mc(), tf()])
        assert accepted(run([text], complete=False)) == [draft_of(mc()), draft_of(tf())]
        assert accepted(run([text[:-1]], complete=False)) == [draft_of(mc()), draft_of(tf())]
        assert accepted(run([text[:-2]], complete=False)) == [draft_of(mc())]
        comma = text.index("}, {") + 2
        assert accepted(run([text[:comma]], complete=False)) == [draft_of(mc())]
        assert accepted(run([text[: comma - 2]], complete=False)) == []

    def test_a_question_cut_short_is_never_emitted(self) -> None:
        cut_short = json.dumps([mc(), mc(question="What is the NATO code word for B?")])
        prefix = cut_short[: cut_short.index("for B") + 3]
        assert accepted(run([prefix], complete=False)) == [draft_of(mc())]
        with pytest.raises(StreamFormatError):
            run([prefix], complete=True)

    def test_complete_but_unclosed_array_is_a_format_error(self) -> None:
        parser = StreamParser()
        assert accepted(parser.feed(json.dumps([tf()])[:-1])) == [draft_of(tf())]
        with pytest.raises(StreamFormatError, match="before the array was closed"):
            parser.finish(complete=True)

    def test_an_empty_array(self) -> None:
        assert run(["[]"]) == []
        assert run([" [", " \n", "]\n"]) == []

    def test_an_empty_stream(self) -> None:
        assert run([], complete=False) == []
        with pytest.raises(StreamFormatError):
            run([], complete=True)
        with pytest.raises(StreamFormatError):
            run(["  \n"], complete=True)

    def test_non_object_items_are_rejected_in_place(self) -> None:
        out = run([json.dumps([1, mc(), "x", None, [tf()], tf()])])
        assert [i.index for i in out] == [0, 1, 2, 3, 4, 5]
        not_object = R.NOT_AN_OBJECT
        assert reasons(out) == [not_object, None, not_object, not_object, not_object, None]

    def test_counts(self) -> None:
        parser = StreamParser()
        stream = [mc(), without(tf(), "type"), mc(answer="Echo"), 7, tf(), mc()]
        parser.feed(json.dumps(stream))
        parser.finish(complete=True)
        assert parser.accepted == 2
        assert parser.rejected == {
            R.MISSING_FIELD: 1,
            R.ANSWER_NOT_IN_OPTIONS: 1,
            R.NOT_AN_OBJECT: 1,
            R.DUPLICATE_QUESTION: 1,
        }
        assert parser.rejected_total == 4


class TestDuplicates:
    def test_within_the_stream(self) -> None:
        stream = [mc(), tf(), mc(question="  what is the NATO  code word for a "), tf()]
        out = run([json.dumps(stream)])
        assert reasons(out) == [None, None, R.DUPLICATE_QUESTION, R.DUPLICATE_QUESTION]

    def test_against_questions_already_saved_and_seen_is_updated(self) -> None:
        seen = {normalise_question_text("What is the NATO code word for A?")}
        out = run([json.dumps([mc(), tf()])], seen=seen)
        assert reasons(out) == [R.DUPLICATE_QUESTION, None]
        assert seen == {normalise_question_text(str(i["question"])) for i in (mc(), tf())}
        assert isinstance(out[1], AcceptedItem)
        assert out[1].key == normalise_question_text("Zulu stands for Z.")

    def test_rejected_items_do_not_claim_their_question(self) -> None:
        stream = [mc(answer="Echo"), mc()]
        assert reasons(run([json.dumps(stream)])) == [R.ANSWER_NOT_IN_OPTIONS, None]


class TestFormat:
    @pytest.mark.parametrize(
        ("text", "outcome"),
        [
            # Wrappers around the array that the parser looks through.
            pytest.param("```json\n[ITEM]\n```\n", TOLERATED, id="fenced"),
            pytest.param("\n ```JSON \r\n[ITEM]```", TOLERATED, id="fenced-crlf-upper"),
            pytest.param("```\n[ITEM]\n```", TOLERATED, id="fence-without-language"),
            pytest.param("```json\n[ITEM]\n", TOLERATED, id="fence-never-closed"),
            pytest.param(" \r\n\t[ITEM] \n", TOLERATED, id="whitespace"),
            # Anything else is not one JSON array.
            pytest.param('{"questions": [ITEM]}', NOT_ONE_ARRAY, id="wrapped-in-object"),
            pytest.param("Sure! Here are your questions: [ITEM]", NOT_ONE_ARRAY, id="prose"),
            pytest.param("```python\n[ITEM]\n```", NOT_ONE_ARRAY, id="other-fence"),
            pytest.param("```json\n```json\n[ITEM]", NOT_ONE_ARRAY, id="two-fences"),
            pytest.param("\ufeff[ITEM]", NOT_ONE_ARRAY, id="bom"),
            pytest.param("[ITEM] and more", NOT_ONE_ARRAY, id="text-after"),
            pytest.param("[ITEM]\n```", NOT_ONE_ARRAY, id="closing-fence-without-opening"),
            pytest.param("```json\n[ITEM]\n```\nmore", NOT_ONE_ARRAY, id="text-after-fence"),
            pytest.param("[ITEM,]", NOT_ONE_ARRAY, id="trailing-comma"),
            pytest.param("[,ITEM]", NOT_ONE_ARRAY, id="leading-comma"),
            pytest.param("[ITEM ITEM]", NOT_ONE_ARRAY, id="missing-comma"),
            pytest.param('[{"a": [1}]', NOT_ONE_ARRAY, id="mismatched-brackets"),
            pytest.param('[{"a" 1}]', NOT_ONE_ARRAY, id="bad-json-in-item"),
            pytest.param('[{"a": "line\nbreak"}]', NOT_ONE_ARRAY, id="raw-newline-in-string"),
            pytest.param('[{"a": "\\ud83d"}]', NOT_ONE_ARRAY, id="lone-surrogate"),
            pytest.param("[NaN]", NOT_ONE_ARRAY, id="nan"),
            pytest.param("[tru]", NOT_ONE_ARRAY, id="bad-keyword"),
            pytest.param("[ITEM]]", NOT_ONE_ARRAY, id="extra-bracket"),
        ],
    )
    def test_one_json_array_alone_or_in_a_tolerated_wrapper(
        self, text: str, outcome: AbstractContextManager[object]
    ) -> None:
        text = text.replace("ITEM", json.dumps(tf()))
        for chunks in ([text], list(text)):  # the whole text at once, then char by char
            with outcome:
                assert accepted(run(chunks)) == [draft_of(tf())]

    def test_reports_where_it_went_wrong(self) -> None:
        parser = StreamParser()
        with pytest.raises(StreamFormatError) as error:
            parser.feed('  {"questions": []}')
        assert error.value.offset == 2

    def test_the_offset_counts_the_whole_stream(self) -> None:
        text = json.dumps([mc(), tf()])
        parser = StreamParser()
        for char in text + " x":
            parser.feed(char)
        # Text after the closed array is found when the stream ends.
        with pytest.raises(StreamFormatError) as error:
            parser.finish(complete=True)
        assert error.value.offset == len(text) + 1

    def test_items_finished_before_an_error_are_returned_and_the_error_follows(self) -> None:
        parser = StreamParser()
        out = parser.feed(json.dumps([mc(), tf()]) + " trailing prose")
        assert accepted(out) == [draft_of(mc())]
        with pytest.raises(StreamFormatError, match="after the array"):
            parser.finish(complete=True)

    def test_errors_are_sticky(self) -> None:
        parser = StreamParser()
        with pytest.raises(StreamFormatError):
            parser.feed("nope")
        with pytest.raises(StreamFormatError):
            parser.feed("[]")
        with pytest.raises(StreamFormatError):
            parser.finish(complete=False)

    def test_cannot_be_used_after_finish(self) -> None:
        parser = StreamParser()
        parser.feed("[]")
        parser.finish(complete=True)
        with pytest.raises(RuntimeError):
            parser.feed("[]")
        with pytest.raises(RuntimeError):
            parser.finish(complete=True)


# --------------------------------------------------------------------------- property tests


def _fold(text: str) -> str:
    return " ".join(
        unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).split()
    )


_tricky = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(['"', "\\", "{", "}", "[", "]", ",", ":", "\n", "é", "😀", "\u2028"]),
)
_trimmed_text = st.text(_tricky, min_size=1, max_size=24).filter(lambda s: s == s.strip())
_question_text = _trimmed_text.filter(normalise_question_text)


@st.composite
def _valid_item(draw: st.DrawFn) -> Item:
    if draw(st.booleans()):
        options = draw(
            st.lists(_trimmed_text.filter(_fold), min_size=4, max_size=4, unique_by=_fold)
        )
        kind = "multiple-choice"
    else:
        options, kind = ["True", "False"], "true-false"
    return {
        "question": draw(_question_text),
        "type": kind,
        "options": options,
        "correctAnswer": draw(st.sampled_from(options)),
        "explanation": draw(st.one_of(st.just(""), _trimmed_text)),
    }


_valid_items = st.lists(
    _valid_item(), max_size=8, unique_by=lambda i: normalise_question_text(str(i["question"]))
)

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_tricky, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _any_element(draw: st.DrawFn) -> object:
    """Valid items, broken items, repeated questions and arbitrary JSON values."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(_json_values)
    item = draw(_valid_item())
    if choice == 1:
        item["question"] = draw(st.sampled_from(["Q1?", "q1", "Q2", "q2."]))
    elif choice == 2:
        field = draw(st.sampled_from(sorted(item)))
        item[field] = draw(st.one_of(st.just(None), _json_values))
    return item


@st.composite
def _serialised(draw: st.DrawFn, elements: Sequence[object]) -> str:
    """json.dumps with random whitespace around every token and random indentation."""
    ws = st.text(st.sampled_from(" \t\r\n"), max_size=3)
    item_sep = draw(ws) + "," + draw(ws)
    key_sep = draw(ws) + ":" + draw(ws)
    indent = draw(st.sampled_from([None, 0, 2, "\t"]))
    body = json.dumps(
        list(elements),
        indent=indent,
        separators=(item_sep, key_sep),
        ensure_ascii=draw(st.booleans()),
    )
    return draw(ws) + body + draw(ws)


@st.composite
def _chunks(draw: st.DrawFn, text: str) -> list[str]:
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=40))
    return split_at(text, *cuts)


def _items_begun(prefix: str) -> int:
    """How many array elements have begun, by pydantic_core's partial parser."""
    if not prefix.strip():
        return 0
    parsed = from_json(prefix, allow_partial=True)
    assert isinstance(parsed, list)
    return len(parsed)


def _items_whole(prefix: str) -> int:
    """How many array elements are whole, by the standard library's strict parser."""
    begun = _items_begun(prefix)
    tail = prefix.rstrip()
    tail = tail[:-1].rstrip() if tail.endswith(",") else tail
    for candidate in (tail, tail + "]"):
        with contextlib.suppress(ValueError):
            if len(json.loads(candidate)) == begun:
                return begun
    return max(0, begun - 1)


def _property(*strategies: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A hypothesis property over drawn data plus ``strategies``, 120 examples, no deadline."""

    def wrap(test: Callable[..., None]) -> Callable[..., None]:
        return settings(max_examples=120, deadline=None)(given(st.data(), *strategies)(test))

    return wrap


class TestProperties:
    @_property(_valid_items)
    def test_emits_exactly_the_items_in_order_once_each_and_never_early(
        self, data: st.DataObject, items: list[Item]
    ) -> None:
        text = data.draw(_serialised(items))
        parser = StreamParser()
        out: list[ParsedItem] = []
        fed = ""
        for chunk in data.draw(_chunks(text)):
            fed += chunk
            out += parser.feed(chunk)
            # Item i is out exactly when its text is whole (json.loads takes it, the array
            # closed after it) or item i+1 has begun: never before, and no later than that.
            assert len(out) == _items_whole(fed)
        out += parser.finish(complete=True)
        assert [i.index for i in out] == list(range(len(items)))
        assert accepted(out) == [draft_of(i) for i in items]

    @_property(st.lists(_any_element(), max_size=8))
    def test_the_result_does_not_depend_on_the_split(
        self, data: st.DataObject, elements: list[object]
    ) -> None:
        text = data.draw(_serialised(elements))
        whole = run([text])
        assert [i.index for i in whole] == list(range(len(elements)))
        assert run(data.draw(_chunks(text))) == whole
        assert run(data.draw(_chunks(text))) == whole

    @_property(_valid_items)
    def test_a_prefix_only_ever_yields_items_of_the_full_list(
        self, data: st.DataObject, items: list[Item]
    ) -> None:
        text = data.draw(_serialised(items))
        expected = [draft_of(i) for i in items]
        for cut in data.draw(st.lists(st.integers(0, len(text)), min_size=1, max_size=5)):
            prefix = text[:cut]
            truncated = run(data.draw(_chunks(prefix)), complete=False)
            assert accepted(truncated) == expected[: len(truncated)]
            assert len(truncated) == _items_whole(prefix)
            closed = cut > text.rindex("]")
            if closed:
                assert accepted(run([prefix], complete=True)) == expected
            else:
                with pytest.raises(StreamFormatError):
                    run([prefix], complete=True)


class TestNesting:
    def test_strings_and_escapes_are_followed_across_chunks(self) -> None:
        from qgen.domain.stream_text import Nesting

        nesting = Nesting(array_depth=1)
        for piece in ['[{"q": "a \\', '"', " } ] still text"]:
            nesting.feed(piece)  # the quote after the backslash does not end the string
            assert not nesting.between_items
        nesting.feed('"}')
        assert nesting.between_items
        assert nesting.last == "}"
        nesting.feed(", ")
        assert nesting.last == ","

    def test_an_envelope_counts_the_questions_array_as_its_item_level(self) -> None:
        from qgen.domain.stream_text import Nesting

        nesting = Nesting(array_depth=2)
        nesting.feed('{"topic": "T", "questions": [{"options": ["a", "b"]')
        assert not nesting.between_items
        nesting.feed("}")
        assert nesting.between_items
        assert nesting.last == "}"
        nesting.feed("]}")
        assert nesting.between_items
