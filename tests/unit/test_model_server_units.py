"""The offline model's pure parts: decks, topic detection, prompt parsing, stream plans, faults."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from dev.model_server.array_text import Envelope
from dev.model_server.decks import (
    CAPITALS,
    DECKS,
    ELEMENTS,
    NATO,
    Deck,
    detect_topic,
    normalise,
    validate,
)
from dev.model_server.decks import capitals as capitals_module
from dev.model_server.decks import elements as elements_module
from dev.model_server.decks import nato as nato_module
from dev.model_server.decks.base import build_deck
from dev.model_server.errors import ApiError, unknown_topic_error
from dev.model_server.fault_parsing import FaultSpecError, parse_fault, parse_faults
from dev.model_server.faults import DEFECTS
from dev.model_server.pacing import Pacing
from dev.model_server.planning import planned_count
from dev.model_server.request import parse_request
from dev.model_server.settings import Settings
from dev.model_server.stream import (
    MAX_CHUNK,
    MIN_CHUNK,
    Pause,
    StreamPlan,
    TextChunk,
    plan_stream,
    select_questions,
)
from dev.model_server.stream_events import Event, stream_actions
from tests.support.faults import invalid_items

ALL_DECKS = list(DECKS.values())


def _rng(seed: str = "t") -> random.Random:
    return random.Random(seed)


def _chunks(plan: StreamPlan) -> list[TextChunk]:
    return [step for step in plan.steps if isinstance(step, TextChunk)]


def _body(text: str, **config: Any) -> bytes:
    return json.dumps(
        {
            "contents": [{"role": "user", "parts": [{"text": text}]}],
            "systemInstruction": {
                "parts": [{"text": "<learner_request>ignored</learner_request>"}]
            },
            "generationConfig": config,
        }
    ).encode()


# ----- decks ------------------------------------------------------------------------------


class TestDecks:
    @pytest.mark.parametrize("deck", ALL_DECKS, ids=lambda d: d.key)
    def test_every_question_follows_the_contract(self, deck: Deck) -> None:
        for question in deck.questions:
            item = question.to_json()
            assert validate(item) == [], item
            assert list(item) == ["question", "type", "options", "correctAnswer", "explanation"]
            assert question.explanation.strip()
            if question.type == "multiple-choice":
                assert len(set(question.options)) == 4
            else:
                assert question.options == ("True", "False")

    @pytest.mark.parametrize("deck", ALL_DECKS, ids=lambda d: d.key)
    def test_texts_are_unique_and_both_types_are_mixed(self, deck: Deck) -> None:
        texts = [normalise(q.question) for q in deck.questions]
        assert len(set(texts)) == len(texts)
        kinds = [q.type for q in deck.questions]
        assert kinds.count("true-false") >= len(deck) // 5
        assert kinds.count("multiple-choice") >= len(deck) // 2
        # Interleaved: the first ten already hold both kinds.
        assert {q.type for q in deck.questions[:10]} == {"multiple-choice", "true-false"}

    def test_sizes_and_coverage(self) -> None:
        assert len(NATO) == 78
        assert len(ELEMENTS) == 80
        assert len(CAPITALS) == 171
        assert len(nato_module.CODE_WORDS) == 26
        assert [n for n, _, _ in elements_module.ELEMENTS] == list(range(1, 21))
        assert len(capitals_module.CAPITALS) >= 40
        for letter, word in nato_module.CODE_WORDS:
            assert any(word in q.question and letter in q.question for q in NATO.questions)
        for _, _, name in elements_module.ELEMENTS:
            assert any(name in q.question for q in ELEMENTS.questions)
        for country, capital, _ in capitals_module.CAPITALS:
            assert any(
                f"capital of {country}?" == q.question.split("is the ")[-1]
                for q in CAPITALS.questions
            ), country
            assert any(q.correct_answer == capital for q in CAPITALS.questions)

    def test_facts_spot_checks(self) -> None:
        by_text = {q.question: q for deck in ALL_DECKS for q in deck.questions}
        assert by_text["What is the chemical symbol for Sodium?"].correct_answer == "Na"
        assert by_text["What is the atomic number of Calcium?"].correct_answer == "20"
        assert by_text["Which chemical element has the symbol K?"].correct_answer == "Potassium"
        assert by_text["What is the capital of Australia?"].correct_answer == "Canberra"
        assert by_text["Canberra is the capital of which country?"].correct_answer == "Australia"
        assert (
            by_text["What is the NATO phonetic alphabet code word for the letter J?"].correct_answer
            == "Juliett"
        )
        assert by_text["Which letter does the NATO code word X-ray stand for?"].correct_answer == (
            "X"
        )

    @pytest.mark.parametrize(
        "module", [nato_module, elements_module, capitals_module], ids=["nato", "el", "cap"]
    )
    def test_rebuilding_gives_the_same_deck(self, module: Any) -> None:
        deck: Deck = module.DECK
        again = build_deck(deck.key, deck.title, deck.intent, deck.keywords, module._questions())
        assert again == deck


class TestTopics:
    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ("NATO alphabet", "nato"),
            ("the nato PHONETIC alphabet please", "nato"),
            ("Phonetic Alphabet", "nato"),
            ("chemical elements", "elements"),
            ("Periodic table basics", "elements"),
            ("the first 20 ELEMENTS", "elements"),
            ("world capitals", "capitals"),
            ("Capital cities of the world", "capitals"),
            ("what is the capital of France and others", "capitals"),
            # The earliest keyword wins.
            ("capitals, then the NATO alphabet", "capitals"),
            ("NATO alphabet, then capitals", "nato"),
        ],
    )
    def test_keywords(self, text: str, key: str) -> None:
        deck = detect_topic(text)
        assert deck is not None
        assert deck.key == key

    @pytest.mark.parametrize("text", ["React hooks", "Spanish verbs", "capital gains tax", ""])
    def test_unknown(self, text: str) -> None:
        assert detect_topic(text) is None

    def test_unknown_topic_error_is_helpful(self) -> None:
        error = unknown_topic_error("React hooks")
        assert error.code == 400
        assert error.status == "INVALID_ARGUMENT"
        assert "React hooks" in error.message
        assert "GEMINI_API_KEY" in error.message
        for deck in ALL_DECKS:
            assert deck.title in error.message


# ----- requests ---------------------------------------------------------------------------


class TestParseRequest:
    def test_reads_the_contract_lines(self) -> None:
        text = (
            "Write questions.\n<learner_request>\n  NATO alphabet \n</learner_request>\n"
            "Topic: NATO phonetic alphabet\nNumber of questions to write: 7\n"
            "<existing_questions>\nFirst one?\n\n  Second one?  \n</existing_questions>\n"
        )
        request = parse_request(
            _body(text, responseMimeType="application/json", responseJsonSchema={}),
            "stream",
            "models/gemini-2.5-flash",
            "v1beta",
        )
        assert request.learner_request == "NATO alphabet"
        assert request.count == 7
        assert request.topic_line == "NATO phonetic alphabet"
        assert request.existing == ("First one?", "Second one?")
        assert request.model == "gemini-2.5-flash"
        assert request.response_mime_type == "application/json"
        assert request.has_schema
        assert request.prompt_tokens > 0

    def test_only_user_content_counts(self) -> None:
        request = parse_request(_body("no markers here"), "clarify", "m", "v1")
        assert request.learner_request is None
        assert request.count is None
        assert request.existing == ()

    @pytest.mark.parametrize("body", [b"not json", b"[]", b'{"contents": []}', b"{}"])
    def test_malformed_requests_are_400(self, body: bytes) -> None:
        with pytest.raises(ApiError) as exc:
            parse_request(body, "clarify", "m", "v1")
        assert exc.value.code == 400
        assert exc.value.body()["error"]["status"] == "INVALID_ARGUMENT"


# ----- stream plans -----------------------------------------------------------------------


class TestStreamPlan:
    def test_select_excludes_existing_after_normalising(self) -> None:
        first = NATO.questions[:3]
        existing = [f"  {q.question.upper()}  ".replace(" ", "   ") for q in first]
        chosen = select_questions(NATO, existing, 5)
        assert chosen == list(NATO.questions[3:8])
        assert select_questions(NATO, [q.question for q in NATO.questions[:-2]], 10) == list(
            NATO.questions[-2:]
        )

    def test_chunks_rebuild_the_array_at_5_to_60_chars(self) -> None:
        questions = list(CAPITALS.questions[:12])
        plan = plan_stream(questions, CAPITALS, [], None, _rng())
        chunks = _chunks(plan)
        assert "".join(c.text for c in chunks) == plan.text
        assert json.loads(plan.text) == [q.to_json() for q in questions]
        assert all(MIN_CHUNK <= len(c.text) <= MAX_CHUNK for c in chunks[:-1])
        assert 1 <= len(chunks[-1].text) <= MAX_CHUNK
        assert [i for c in chunks for i in c.completes] == list(range(12))
        for chunk in chunks:
            for index in chunk.completes:
                assert chunk.start < plan.ends[index] <= chunk.end
                assert plan.text[plan.ends[index] - 1] == "}"
        assert plan.ending == "stop"
        assert plan.finish_reason == "STOP"
        assert not any(c.final for c in chunks)

    def test_plans_are_deterministic(self) -> None:
        questions = list(ELEMENTS.questions[:8])
        one = plan_stream(questions, ELEMENTS, [], None, _rng("a"))
        two = plan_stream(questions, ELEMENTS, [], None, _rng("a"))
        other = plan_stream(questions, ELEMENTS, [], None, _rng("b"))
        assert one.steps == two.steps
        assert one.steps != other.steps

    def test_merged_final_marks_the_last_text_chunk(self) -> None:
        plan = plan_stream(NATO.questions[:2], NATO, [], None, _rng(), merged_final=True)
        chunks = _chunks(plan)
        assert chunks[-1].final
        assert not any(c.final for c in chunks[:-1])

    @pytest.mark.parametrize("kind", ["drop", "truncate", "max_tokens", "safety", "error_event"])
    @pytest.mark.parametrize("k", [0, 1, 3])
    def test_faults_cut_right_after_the_kth_item(self, kind: str, k: int) -> None:
        fault = parse_fault({"kind": kind, "afterQuestions": k, "tailChars": 0})
        plan = plan_stream(NATO.questions[:5], NATO, [], fault, _rng())
        sent = "".join(c.text for c in _chunks(plan))
        assert sent == (plan.text[: plan.ends[k - 1]] if k else "")
        assert plan.ending == kind
        assert sum(len(c.completes) for c in _chunks(plan)) == k

    def test_tail_chars_and_max_tokens_default_tail(self) -> None:
        fault = parse_fault({"kind": "max_tokens", "afterQuestions": 2})
        plan = plan_stream(NATO.questions[:5], NATO, [], fault, _rng())
        sent = "".join(c.text for c in _chunks(plan))
        assert sent == plan.text[: plan.ends[1] + 24]
        assert plan.finish_reason == "MAX_TOKENS"
        drop = parse_fault({"kind": "drop", "afterQuestions": 1, "tailChars": 7})
        plan = plan_stream(NATO.questions[:5], NATO, [], drop, _rng())
        assert "".join(c.text for c in _chunks(plan)) == plan.text[: plan.ends[0] + 7]

    def test_more_items_asked_than_exist_cuts_at_the_end(self) -> None:
        fault = parse_fault({"kind": "truncate", "afterQuestions": 50})
        plan = plan_stream(NATO.questions[:3], NATO, [], fault, _rng())
        assert "".join(c.text for c in _chunks(plan)) == plan.text[: plan.ends[2]]

    def test_stall_pauses_after_k_items_then_finishes(self) -> None:
        fault = parse_fault({"kind": "stall", "afterQuestions": 2, "seconds": 1.5})
        plan = plan_stream(NATO.questions[:4], NATO, [], fault, _rng())
        pauses = [i for i, s in enumerate(plan.steps) if isinstance(s, Pause)]
        assert len(pauses) == 1
        before = plan.steps[: pauses[0]]
        assert (
            "".join(s.text for s in before if isinstance(s, TextChunk)) == plan.text[: plan.ends[1]]
        )
        assert plan.steps[pauses[0]] == Pause(1.5)
        assert "".join(c.text for c in _chunks(plan)) == plan.text
        assert plan.ending == "stop"

    def test_invalid_items_break_exactly_the_given_positions(self) -> None:
        defects = sorted(DEFECTS - {"duplicate", "repeat_existing"})
        fault = parse_fault(
            {
                "kind": "invalid_items",
                "items": [{"at": i, "defect": d} for i, d in enumerate(defects)],
            }
        )
        questions = list(ELEMENTS.questions[: len(defects) + 2])
        plan = plan_stream(questions, ELEMENTS, [], fault, _rng())
        items = json.loads(plan.text)
        assert len(items) == len(questions)
        for index, item in enumerate(items):
            problems = validate(item)
            assert bool(problems) == (index < len(defects)), (defects[index:], item)

    def test_duplicates_repeat_an_earlier_or_existing_question(self) -> None:
        existing = [NATO.questions[0].question]
        questions = select_questions(NATO, existing, 6)
        fault = parse_fault(
            invalid_items(
                (1, "empty_question"),
                (2, "duplicate"),
                (3, "repeat_existing"),
                (5, "duplicate", 0),
            )
        )
        items = json.loads(plan_stream(questions, NATO, existing, fault, _rng()).text)
        assert items[2] == items[0]  # the nearest earlier item that is not broken
        assert items[3] == NATO.questions[0].to_json()
        assert items[5] == items[0]
        assert validate(items[2]) == validate(items[3]) == []

    def test_bad_json_and_blocked(self) -> None:
        plan = plan_stream(
            NATO.questions[:4],
            NATO,
            [],
            parse_fault({"kind": "bad_json", "afterQuestions": 2}),
            _rng(),
        )
        with pytest.raises(json.JSONDecodeError):
            json.loads(plan.text)
        good = json.loads(plan.text[: plan.ends[1]] + "]")
        assert good == [q.to_json() for q in NATO.questions[:2]]
        assert len(plan.items) == 3
        blocked = plan_stream(
            NATO.questions[:4], NATO, [], parse_fault({"kind": "blocked_prompt"}), _rng()
        )
        assert blocked.ending == "blocked"
        assert blocked.steps == []


# ----- faults and settings ----------------------------------------------------------------


class TestFaultSpecs:
    def test_defaults(self) -> None:
        fault = parse_fault({"kind": "http_error", "code": 429})
        assert fault.call == "any"
        assert fault.times == 1
        error = fault.api_error()
        assert error.status == "RESOURCE_EXHAUSTED"
        types = [d["@type"].rsplit(".", 1)[-1] for d in error.body()["error"]["details"]]
        assert types == ["QuotaFailure", "Help", "RetryInfo"]
        assert parse_fault({"kind": "http_error", "code": 429, "retryDelay": None}).api_error()
        key = parse_fault({"kind": "api_key_invalid"}).api_error().body()["error"]
        assert key["code"] == 400
        assert key["details"][0]["reason"] == "API_KEY_INVALID"
        assert parse_fault({"kind": "error_event"}).api_error().code == 503

    def test_matching(self) -> None:
        assert parse_fault({"kind": "truncate"}).matches("stream")
        assert not parse_fault({"kind": "truncate"}).matches("clarify")
        assert parse_fault({"kind": "drop", "call": "clarify"}).matches("clarify")
        assert not parse_fault({"kind": "drop", "call": "clarify"}).matches("stream")

    @pytest.mark.parametrize(
        ("spec", "words"),
        [
            ({"kind": "nope"}, "unknown fault kind"),
            ({"kind": "drop", "afterQuestion": 2}, "unknown field"),
            ({"kind": "http_error"}, "needs a code"),
            ({"kind": "http_error", "code": 200}, "between 400 and 599"),
            ({"kind": "truncate", "call": "clarify"}, "only happen on"),
            ({"kind": "ok", "call": "both"}, "call must be"),
            ({"kind": "drop", "mode": "slam"}, "mode must be"),
            ({"kind": "stall", "seconds": -1}, "seconds must be"),
            ({"kind": "ok", "times": 0}, "times must be"),
            ({"kind": "invalid_items"}, "needs"),
            ({"kind": "invalid_items", "items": [{"at": 0, "defect": "duplicate"}]}, "earlier"),
            ({"kind": "invalid_items", "items": [{"at": 1, "defect": "wobbly"}]}, "unknown defect"),
            ({"kind": "safety", "finishReason": "STOP"}, "finishReason must be"),
            ("drop", "JSON object"),
        ],
    )
    def test_rejections_say_what_is_wrong(self, spec: object, words: str) -> None:
        with pytest.raises(FaultSpecError, match=words):
            parse_faults([spec])

    def test_accepted_payload_shapes(self) -> None:
        assert len(parse_faults({"kind": "ok"})) == 1
        assert len(parse_faults({"faults": [{"kind": "ok"}, {"kind": "ok"}]})) == 2
        assert len(parse_faults([])) == 0

    def test_settings_updates_are_validated(self) -> None:
        settings = Settings()
        assert settings.updated({"paceMs": 0, "finalEvent": "merged"}).to_json() == {
            "paceMs": 0,
            "firstChunkMs": 0,
            "finalEvent": "merged",
            "seed": 0,
            "questionMs": 0,
        }
        for bad in ({"paceMs": -1}, {"paceMs": "5"}, {"finalEvent": "x"}, {"pace": 1}, [1]):
            with pytest.raises(ValueError, match=r"."):
                settings.updated(bad)


# ----- the one-call envelope --------------------------------------------------------------

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "topic": {"type": "string"},
        "count": {"type": "integer"},
        "questions": {"type": "array", "maxItems": 25, "items": {"type": "object"}},
    },
}


def _request(text: str, **config: Any) -> Any:
    return parse_request(_body(text, **config), "stream", "m", "v1beta")


def _envelope_plan(count: int, fault: Any = None, *, size: int | None = None) -> StreamPlan:
    questions = NATO.questions[: count if size is None else size]
    envelope = Envelope(NATO.title, count)
    return plan_stream(questions, NATO, [], fault, _rng(), envelope=envelope)


def _header(plan: StreamPlan) -> str:
    return plan.text[: plan.body_start]


class TestEnvelopeRequests:
    @pytest.mark.parametrize(
        ("config", "root", "envelope", "max_items"),
        [
            ({"responseJsonSchema": ENVELOPE_SCHEMA}, "object", True, 25),
            ({"responseJsonSchema": {"type": "array", "maxItems": 9}}, "array", False, 9),
            ({"responseSchema": {"type": "ARRAY", "items": {}}}, "array", False, None),
            # google-genai sends a pydantic model as `responseSchema`, upper-case, snake_case.
            (
                {
                    "responseSchema": {
                        "type": "OBJECT",
                        "properties": {"questions": {"type": "ARRAY", "max_items": "12"}},
                    }
                },
                "object",
                True,
                12,
            ),
            # model_json_schema(): the envelope behind a $ref, the questions array inline.
            (
                {
                    "responseJsonSchema": {
                        "$ref": "#/$defs/Plan",
                        "$defs": {"Plan": ENVELOPE_SCHEMA},
                    }
                },
                "object",
                True,
                25,
            ),
            # The clarify schema is an object without "questions": not an envelope.
            ({"responseJsonSchema": {"type": "object", "properties": {}}}, "object", False, None),
            ({}, None, False, None),
        ],
    )
    def test_schema_root_envelope_and_max_items(
        self, config: dict[str, Any], root: str | None, envelope: bool, max_items: int | None
    ) -> None:
        request = _request("<learner_request>NATO</learner_request>", **config)
        assert (request.schema_root, request.envelope, request.max_items) == (
            root,
            envelope,
            max_items,
        )
        assert request.summary()["schemaRoot"] == root
        assert request.summary()["maxItems"] == max_items

    @pytest.mark.parametrize(
        ("thinking", "budget", "level"),
        [
            ({"thinkingBudget": 0}, 0, None),
            ({"thinking_budget": 512}, 512, None),  # how google-genai 3.6 sends it
            ({"thinkingLevel": "LOW"}, None, "LOW"),
            ({"thinking_level": "HIGH", "include_thoughts": False}, None, "HIGH"),
            ({}, None, None),
        ],
    )
    def test_thinking_config_is_recorded_not_refused(
        self, thinking: dict[str, Any], budget: int | None, level: str | None
    ) -> None:
        request = _request("x", thinkingConfig=thinking)
        summary = request.summary()
        assert (summary["thinkingBudget"], summary["thinkingLevel"]) == (budget, level)

    def test_reads_the_maximum_and_the_learners_own_count(self) -> None:
        text = (
            "<learner_request>\n20 questions on the NATO alphabet\n</learner_request>\n"
            "Maximum number of questions: 30\n"
        )
        request = _request(text)
        assert (request.count, request.max_count, request.asked_count) == (None, 30, 20)
        assert request.summary()["maxCount"] == 30


class TestCountRules:
    @pytest.mark.parametrize(
        ("lines", "existing", "expected"),
        [
            ("Number of questions to write: 7", 0, 7),
            ("Number of questions to write: 7", 74, 4),  # capped by what remains
            ("Number of questions to write: 7\nMaximum number of questions: 3", 0, 7),
            ("Maximum number of questions: 30", 0, 30),
            ("Maximum number of questions: 300", 0, 78),  # the whole deck
            ("Maximum number of questions: 300", 70, 8),
            ("Maximum number of questions: 5", 0, 5),
        ],
    )
    def test_planned_count(self, lines: str, existing: int, expected: int) -> None:
        texts = "\n".join(q.question for q in NATO.questions[:existing])
        text = (
            f"<learner_request>NATO</learner_request>\n{lines}\n"
            f"<existing_questions>\n{texts}\n</existing_questions>"
        )
        assert planned_count(_request(text), NATO) == expected

    @pytest.mark.parametrize(
        ("learner", "maximum", "expected"),
        [
            ("12 questions on NATO", 30, 12),
            ("40 cards on NATO", 30, 30),  # the maximum wins
            ("100 questions on NATO", 300, 78),  # the deck wins
            ("0 questions on NATO", 30, 30),  # no count asked
        ],
    )
    def test_learners_count_under_the_maximum(
        self, learner: str, maximum: int, expected: int
    ) -> None:
        text = f"<learner_request>{learner}</learner_request>\n"
        text += f"Maximum number of questions: {maximum}"
        assert planned_count(_request(text), NATO) == expected

    @pytest.mark.parametrize(
        ("lines", "words"),
        [
            ("", "no line 'Number of questions to write: N' or 'Maximum number of questions"),
            ("Maximum number of questions: 0", "Maximum number of questions must be >= 1"),
            ("Number of questions to write: 0", "Number of questions to write must be >= 1"),
        ],
    )
    def test_no_count_is_400(self, lines: str, words: str) -> None:
        with pytest.raises(ApiError) as exc:
            planned_count(_request(f"<learner_request>NATO</learner_request>\n{lines}"), NATO)
        assert exc.value.code == 400
        assert words in exc.value.message


class TestEnvelopePlan:
    def test_shape_key_order_and_header_chunk(self) -> None:
        plan = _envelope_plan(6)
        pairs = json.loads(plan.text, object_pairs_hook=lambda p: p)
        assert [key for key, _ in pairs] == ["topic", "count", "questions"]
        body = json.loads(plan.text)
        assert body["topic"] == "NATO phonetic alphabet"
        assert body["count"] == 6
        assert body["questions"] == [q.to_json() for q in NATO.questions[:6]]
        assert _header(plan) == '{"topic": "NATO phonetic alphabet", "count": 6, "questions": ['
        # One item per line, as in the array answer.
        lines = plan.text.splitlines()
        assert lines[0] == _header(plan)
        assert lines[-1] == "]}"
        assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == body["questions"]
        chunks = _chunks(plan)
        assert chunks[0].text == _header(plan)
        assert chunks[0].item is None
        assert "".join(c.text for c in chunks) == plan.text
        assert all(MIN_CHUNK <= len(c.text) <= MAX_CHUNK for c in chunks[1:-1])
        assert [i for c in chunks for i in c.completes] == list(range(6))
        assert all(plan.text[plan.ends[i] - 1] == "}" for i in range(6))

    def test_chunks_know_their_question_item(self) -> None:
        for plan in (_envelope_plan(5), plan_stream(NATO.questions[:5], NATO, [], None, _rng())):
            for chunk in _chunks(plan):
                if chunk.item is None:
                    assert chunk.start < plan.body_start or chunk.start >= plan.ends[-1]
                else:
                    start = plan.ends[chunk.item - 1] if chunk.item else plan.body_start
                    assert start <= chunk.start < plan.ends[chunk.item]
            assert {c.item for c in _chunks(plan)} >= set(range(5))

    def test_empty_envelope(self) -> None:
        plan = _envelope_plan(0)
        assert json.loads(plan.text) == {"topic": NATO.title, "count": 0, "questions": []}
        assert "".join(c.text for c in _chunks(plan)) == plan.text

    @pytest.mark.parametrize("kind", ["drop", "truncate", "max_tokens", "safety", "error_event"])
    @pytest.mark.parametrize("k", [0, 1, 3])
    def test_faults_count_question_items(self, kind: str, k: int) -> None:
        fault = parse_fault({"kind": kind, "afterQuestions": k, "tailChars": 0})
        plan = _envelope_plan(5, fault)
        sent = "".join(c.text for c in _chunks(plan))
        # After 0 items the header (the plan) has gone out, and nothing of the first item.
        assert sent == (plan.text[: plan.ends[k - 1]] if k else _header(plan))
        assert sum(len(c.completes) for c in _chunks(plan)) == k
        assert plan.ending == kind

    def test_stall_invalid_items_and_bad_json_in_an_envelope(self) -> None:
        stall = _envelope_plan(4, parse_fault({"kind": "stall", "afterQuestions": 2}))
        pause = next(i for i, s in enumerate(stall.steps) if isinstance(s, Pause))
        before = "".join(s.text for s in stall.steps[:pause] if isinstance(s, TextChunk))
        assert before == stall.text[: stall.ends[1]]
        broken = _envelope_plan(4, parse_fault(invalid_items((1, "three_options"))))
        questions = json.loads(broken.text)["questions"]
        assert [bool(validate(q)) for q in questions] == [False, True, False, False]
        bad = _envelope_plan(4, parse_fault({"kind": "bad_json", "afterQuestions": 2}))
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad.text)
        assert bad.text.startswith(_header(bad))
        assert bad.text.endswith("\n]}")

    def test_over_deliver_items_beyond_the_count(self) -> None:
        plan = _envelope_plan(3, size=8)
        body = json.loads(plan.text)
        assert body["count"] == 3
        assert len(body["questions"]) == 8


class TestPacing:
    @staticmethod
    def _events(plan: StreamPlan) -> list[Event]:
        actions = stream_actions(plan, "m", 0, None, "r")
        return [a for a in actions if isinstance(a, Event)]

    def test_without_question_ms_first_chunk_then_pace(self) -> None:
        events = self._events(_envelope_plan(3))
        delays = Pacing(0.5, 0.04).delays(events)
        assert delays == [0.5] + [0.04] * (len(events) - 1)

    @pytest.mark.parametrize("envelope", [True, False])
    def test_question_ms_spreads_over_each_items_chunks(self, envelope: bool) -> None:
        plan = (
            _envelope_plan(5)
            if envelope
            else plan_stream(NATO.questions[:5], NATO, [], None, _rng())
        )
        events = self._events(plan)
        delays = Pacing(0.3, 0.04, 0.1).delays(events)
        assert delays[0] == 0.3  # TTFT, then (envelope) the first item's chunk at once
        clock, first_chunk_at = 0.0, dict[int, float]()
        for event, delay in zip(events, delays, strict=True):
            clock += delay
            if event.item is not None:
                first_chunk_at.setdefault(event.item, clock)
        assert first_chunk_at[0] == pytest.approx(0.3)
        gaps = [first_chunk_at[i + 1] - first_chunk_at[i] for i in range(4)]
        assert gaps == pytest.approx([0.1] * 4)
        # Each item takes its 100 ms, the last one included; then paceMs if events follow.
        assert sum(delays) >= 0.3 + 0.5 - 1e-9
        after_other = [d for e, d in zip(events, delays[1:], strict=False) if e.item is None]
        assert set(after_other) <= {0.0, 0.04}  # after the header: at once; after the rest: pace


class TestOverDeliverAndQuestionMsSpecs:
    def test_over_deliver_defaults_and_matching(self) -> None:
        fault = parse_fault({"kind": "over_deliver"})
        assert (fault.extra, fault.extra_questions()) == (10, 10)
        assert parse_fault({"kind": "over_deliver", "extra": 3, "call": "stream"}).extra == 3
        assert fault.matches("stream")
        assert not fault.matches("clarify")
        assert parse_fault({"kind": "truncate"}).extra_questions() == 0

    @pytest.mark.parametrize(
        ("spec", "words"),
        [
            ({"kind": "over_deliver", "extra": 0}, "extra must be >= 1"),
            ({"kind": "over_deliver", "extra": "5"}, "extra must be an integer"),
            ({"kind": "over_deliver", "extra": True}, "extra must be an integer"),
            ({"kind": "over_deliver", "call": "clarify"}, "only happen on"),
            ({"kind": "over_deliver", "afterQuestions": 2}, "unknown field"),
            ({"kind": "truncate", "extra": 2}, "unknown field"),
        ],
    )
    def test_over_deliver_rejections(self, spec: dict[str, Any], words: str) -> None:
        with pytest.raises(FaultSpecError, match=words):
            parse_fault(spec)

    def test_question_ms_setting(self) -> None:
        settings = Settings()
        assert settings.question_ms == 0
        assert settings.updated({"questionMs": 120}).to_json()["questionMs"] == 120
        for bad in ({"questionMs": -1}, {"questionMs": 1.5}, {"questionMs": None}):
            with pytest.raises(ValueError, match="questionMs must be an integer >= 0"):
                settings.updated(bad)
