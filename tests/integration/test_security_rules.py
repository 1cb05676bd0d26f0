"""Allow/deny matrix for firestore.rules, run on the Firestore emulator with the rules loaded.

Documents are seeded with the admin client (google-cloud-firestore sends
``Authorization: Bearer owner`` to the emulator, which bypasses the rules). Clients are then
played through the emulator's Firestore REST API with httpx:

* alice and bob send ``Authorization: Bearer <unsigned ID token>`` (dev/tokens.py); the
  emulator accepts ``alg: none`` tokens and evaluates the rules with ``request.auth.uid`` set
  to the token's subject.
* the signed-out user sends **no Authorization header at all**.

Why no header is the faithful "signed out" client. The emulator grants rule-bypassing admin
access only to the literal token ``owner`` (what admin SDKs and @firebase/rules-unit-testing's
``withSecurityRulesDisabled`` send). A request without an Authorization header is *not*
treated as admin: it is evaluated under the rules with ``request.auth == null``. That is also
exactly what ``unauthenticatedContext()`` in @firebase/rules-unit-testing does: its Firestore
instance has no credentials, so the SDK sends no Authorization header. Other encodings do not
work: an empty header value makes the emulator answer 500 UNKNOWN, and a token it cannot
parse is rejected with 400 "invalid jwt" before any rule runs, so neither would exercise
the rules. This was checked empirically (emulator shipped with the Cloud SDK here), and
``test_no_authorization_header_is_evaluated_as_request_auth_null`` keeps checking it: in a
separate probe project it loads rules that allow reads only when ``request.auth == null`` and
shows a header-less read passes them, a token-bearing read does not, and a header-less write
is still denied while ``owner`` is not (so no header is neither a user nor an admin).

Every denial is asserted to be HTTP 403 with status PERMISSION_DENIED and an emulator message
naming the rule method that was refused (``for 'get'``, ``for 'list'``, ...), so a malformed
request (400), a missing document (404) or an emulator fault (500) can never pass as a denial.
``test_denied_reads_succeed_when_rules_are_bypassed`` replays every denied read as ``owner``
to show the request itself is well-formed and only the rules stop it; each denied write is
followed by an admin read showing the target document is exactly as seeded (or still absent).

The data is seeded once per module (the ``db`` fixture wipes before every test, which this
matrix does not need); denied writes change nothing, and any write that slips through is
undone before its test fails so later cases still see the seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from qgen.adapters.firestore.documents import document
from qgen.adapters.firestore.names import (
    ACTIVE_COUNTERS,
    IDEMPOTENCY_KEYS,
    JOBS,
    LEARNER_DEVICES,
    NOTIFICATION_OUTBOX,
    RATE_WINDOWS,
    TOKEN_BUDGETS,
)
from qgen.domain.limits import (
    RateScope,
    idempotency_document_id,
    request_fingerprint,
    window_for,
)
from qgen.domain.transitions import admit

from dev.stack import wipe_firestore
from dev.tokens import emulator_id_token
from tests.conftest import PROJECT_ID

pytestmark = pytest.mark.integration

QUESTIONS = "questions"
ALICE = "alice"
BOB = "bob"
ANON = "anon"  # no Authorization header: request.auth == null
ADMIN = "admin"  # the emulator's rule-bypassing "owner" token; controls only
ACTORS = (ALICE, BOB, ANON)

NOW = datetime(2030, 1, 15, 12, 30, tzinfo=UTC)
DOCS_ROOT = f"projects/{PROJECT_ID}/databases/(default)/documents"


# ----- seed ----------------------------------------------------------------------------------


def _job(user_id: str, prompt: str, minutes_ago: int) -> dict[str, Any]:
    job = admit(
        user_id=user_id,
        prompt=prompt,
        now=NOW - timedelta(minutes=minutes_ago),
        ip_address="203.0.113.7",
    )
    return document(job)


def _question(user_id: str, job_id: str, text: str) -> dict[str, Any]:
    return {
        "userId": user_id,
        "generationJobId": job_id,
        "question": text,
        "answer": "42",
        "createdAt": NOW,
    }


ALICE_WINDOW = window_for(RateScope.USER, ALICE, limit=10, window_seconds=3600, now=NOW)
BOB_WINDOW = window_for(RateScope.USER, BOB, limit=10, window_seconds=3600, now=NOW)
ALICE_IDEMPOTENCY = idempotency_document_id(ALICE, "key-1")
BOB_IDEMPOTENCY = idempotency_document_id(BOB, "key-1")


def _window_doc(window: Any, count: int) -> dict[str, Any]:
    return {
        "scope": str(window.scope),
        "windowStart": window.start,
        "count": count,
        "expireAt": window.end,
    }


def _idempotency_doc(user_id: str, job_id: str) -> dict[str, Any]:
    return {
        "userId": user_id,
        "jobId": job_id,
        "fingerprint": request_fingerprint("photosynthesis"),
        "createdAt": NOW,
        "expireAt": NOW + timedelta(hours=24),
    }


SEED: dict[str, dict[str, dict[str, Any]]] = {
    JOBS: {
        "job-alice-1": _job(ALICE, "photosynthesis", 30),
        "job-alice-2": _job(ALICE, "french revolution", 10),
        "job-bob-1": _job(BOB, "linear algebra", 20),
    },
    QUESTIONS: {
        "q-alice-1": _question(ALICE, "job-alice-1", "What does chlorophyll absorb?"),
        "q-alice-2": _question(ALICE, "job-alice-2", "When was the Bastille stormed?"),
        "q-bob-1": _question(BOB, "job-bob-1", "What is an eigenvalue?"),
    },
    ACTIVE_COUNTERS: {
        ALICE: {"activeJobs": 2, "updatedAt": NOW},
        BOB: {"activeJobs": 1, "updatedAt": NOW},
    },
    RATE_WINDOWS: {
        ALICE_WINDOW.document_id: _window_doc(ALICE_WINDOW, 2),
        BOB_WINDOW.document_id: _window_doc(BOB_WINDOW, 1),
    },
    IDEMPOTENCY_KEYS: {
        ALICE_IDEMPOTENCY: _idempotency_doc(ALICE, "job-alice-1"),
        BOB_IDEMPOTENCY: _idempotency_doc(BOB, "job-bob-1"),
    },
    # A learner's budget and devices are about them, yet only the server reads or writes them.
    TOKEN_BUDGETS: {
        f"{ALICE}-2026-11-30": {"userId": ALICE, "day": "2026-11-30", "reserved": 0, "spent": 9},
        f"{BOB}-2026-11-30": {"userId": BOB, "day": "2026-11-30", "reserved": 0, "spent": 3},
    },
    LEARNER_DEVICES: {
        ALICE: {"userId": ALICE, "devices": [], "notificationsEnabled": True},
        BOB: {"userId": BOB, "devices": [], "notificationsEnabled": False},
    },
    NOTIFICATION_OUTBOX: {
        "job-alice-1-run0": {"userId": ALICE, "jobId": "job-alice-1", "title": "t", "dueAt": NOW},
        "job-bob-1-run0": {"userId": BOB, "jobId": "job-bob-1", "title": "t", "dueAt": NOW},
    },
}

# The document alice owns in each collection: the target of get/update/delete cases.
ALICE_DOC = {
    JOBS: "job-alice-1",
    QUESTIONS: "q-alice-1",
    ACTIVE_COUNTERS: ALICE,
    RATE_WINDOWS: ALICE_WINDOW.document_id,
    IDEMPOTENCY_KEYS: ALICE_IDEMPOTENCY,
    TOKEN_BUDGETS: f"{ALICE}-2026-11-30",
    LEARNER_DEVICES: ALICE,
    NOTIFICATION_OUTBOX: "job-alice-1-run0",
}


def _owned_by(collection: str, user_id: str) -> set[str]:
    return {i for i, d in SEED[collection].items() if d.get("userId") == user_id}


def _seed_document(client: Any, collection: str, doc_id: str) -> None:
    ref = client.collection(collection).document(doc_id)
    data = SEED.get(collection, {}).get(doc_id)
    if data is None:
        ref.delete()
    else:
        ref.set(data)


@pytest.fixture(scope="module")
def seeded(emulator_address: str, firestore_client: Any) -> Any:
    wipe_firestore(emulator_address, PROJECT_ID)
    batch = firestore_client.batch()
    for collection, docs in SEED.items():
        for doc_id, data in docs.items():
            batch.set(firestore_client.collection(collection).document(doc_id), data)
    batch.commit()
    return firestore_client


@pytest.fixture(scope="module")
def http(emulator_address: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{emulator_address}", timeout=10) as client:
        yield client


def _headers(actor: str, project_id: str = PROJECT_ID) -> dict[str, str]:
    if actor == ANON:
        return {}
    if actor == ADMIN:
        return {"Authorization": "Bearer owner"}
    return {"Authorization": f"Bearer {emulator_id_token(actor, project_id=project_id)}"}


# ----- REST operations -----------------------------------------------------------------------


def _value(v: object) -> dict[str, object]:
    if isinstance(v, bool):
        return {"booleanValue": v}
    if isinstance(v, int):
        return {"integerValue": str(v)}
    return {"stringValue": str(v)}


def _fields(data: Mapping[str, object]) -> dict[str, object]:
    return {k: _value(v) for k, v in data.items()}


Send = Callable[[httpx.Client, dict[str, str]], httpx.Response]


@dataclass(frozen=True)
class Op:
    label: str
    rule_method: str  # the rules method the emulator names in its denial message
    send: Send
    # For reads that are allowed: the document ids the response must hold, exactly.
    expect_ids: frozenset[str] = field(default_factory=frozenset)
    # For writes: the document the write targets, checked against the seed afterwards.
    target: tuple[str, str] | None = None

    @property
    def is_write(self) -> bool:
        return self.target is not None


def _docs_path(collection: str, doc_id: str | None = None) -> str:
    path = f"/v1/{DOCS_ROOT}/{collection}"
    return f"{path}/{doc_id}" if doc_id else path


def op_get(collection: str, doc_id: str) -> Op:
    return Op(
        f"get({doc_id})",
        "get",
        lambda h, hd: h.get(_docs_path(collection, doc_id), headers=hd),
        expect_ids=frozenset({doc_id}),
    )


def op_list(collection: str) -> Op:
    """ListDocuments: every document of the collection."""
    return Op("list", "list", lambda h, hd: h.get(_docs_path(collection), headers=hd))


def op_query(
    collection: str,
    where: dict[str, str] | None = None,
    *,
    order_by: str | None = None,
    label: str | None = None,
) -> Op:
    query: dict[str, object] = {"from": [{"collectionId": collection}]}
    filters = [
        {
            "fieldFilter": {
                "field": {"fieldPath": name},
                "op": "EQUAL",
                "value": {"stringValue": value},
            }
        }
        for name, value in (where or {}).items()
    ]
    if len(filters) == 1:
        query["where"] = filters[0]
    elif filters:
        query["where"] = {"compositeFilter": {"op": "AND", "filters": filters}}
    if order_by:
        query["orderBy"] = [{"field": {"fieldPath": order_by}, "direction": "DESCENDING"}]
    expected = {
        i
        for i, d in SEED[collection].items()
        if all(d.get(k) == v for k, v in (where or {}).items())
    }
    name = label or "query(" + ",".join(f"{k}=={v}" for k, v in (where or {}).items()) + ")"
    return Op(
        name,
        "list",
        lambda h, hd: h.post(
            f"/v1/{DOCS_ROOT}:runQuery", headers=hd, json={"structuredQuery": query}
        ),
        expect_ids=frozenset(expected),
    )


def op_collection_group_query(collection: str, user_id: str) -> Op:
    query = {
        "from": [{"collectionId": collection, "allDescendants": True}],
        "where": {
            "fieldFilter": {
                "field": {"fieldPath": "userId"},
                "op": "EQUAL",
                "value": {"stringValue": user_id},
            }
        },
    }
    return Op(
        f"collectionGroupQuery(userId=={user_id})",
        "list",
        lambda h, hd: h.post(
            f"/v1/{DOCS_ROOT}:runQuery", headers=hd, json={"structuredQuery": query}
        ),
    )


def op_create(collection: str, doc_id: str, data: Mapping[str, object]) -> Op:
    """CreateDocument (POST ...?documentId=)."""
    return Op(
        "create",
        "create",
        lambda h, hd: h.post(
            _docs_path(collection),
            params={"documentId": doc_id},
            headers=hd,
            json={"fields": _fields(data)},
        ),
        target=(collection, doc_id),
    )


def op_commit_create(collection: str, doc_id: str, data: Mapping[str, object]) -> Op:
    """What the client SDKs' add()/create() send: a commit with exists=false."""
    write = {
        "update": {"name": f"{DOCS_ROOT}/{collection}/{doc_id}", "fields": _fields(data)},
        "currentDocument": {"exists": False},
    }
    return Op(
        "commitCreate",
        "create",
        lambda h, hd: h.post(f"/v1/{DOCS_ROOT}:commit", headers=hd, json={"writes": [write]}),
        target=(collection, doc_id),
    )


def op_set(collection: str, doc_id: str, data: Mapping[str, object]) -> Op:
    """What the client SDKs' set() sends for a new document: an unconditional upsert."""
    return Op(
        "set",
        "create",
        lambda h, hd: h.patch(
            _docs_path(collection, doc_id), headers=hd, json={"fields": _fields(data)}
        ),
        target=(collection, doc_id),
    )


def op_update(collection: str, doc_id: str, data: Mapping[str, object]) -> Op:
    """What the client SDKs' update() sends: a masked PATCH with exists=true."""
    params = httpx.QueryParams([("updateMask.fieldPaths", k) for k in data])
    params = params.add("currentDocument.exists", "true")
    return Op(
        "update",
        "update",
        lambda h, hd: h.patch(
            _docs_path(collection, doc_id),
            params=params,
            headers=hd,
            json={"fields": _fields(data)},
        ),
        target=(collection, doc_id),
    )


def op_delete(collection: str, doc_id: str) -> Op:
    return Op(
        "delete",
        "delete",
        lambda h, hd: h.delete(_docs_path(collection, doc_id), headers=hd),
        target=(collection, doc_id),
    )


# ----- the matrix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    collection: str
    op: Op
    actor: str
    allowed: bool

    @property
    def id(self) -> str:
        # Targets are alice's documents, so alice is the owner, bob the other user and anon
        # the signed-out user (queries name the userId they filter on).
        return f"{self.collection}-{self.op.label}-{self.actor}"


def _user_data_cases(collection: str) -> list[Case]:
    """generationJobs and questions: owners read their own; nobody writes."""
    target = ALICE_DOC[collection]
    new_id = f"client-{collection}"
    # Every create claims alice's userId: as alice it is her own, as bob an impersonation.
    new_doc: dict[str, object] = {**SEED[collection][target], "userId": ALICE}
    new_doc = {k: v for k, v in new_doc.items() if isinstance(v, str | int)}
    cases: list[Case] = []
    for actor in ACTORS:
        cases += [
            Case(collection, op_get(collection, target), actor, allowed=actor == ALICE),
            Case(collection, op_query(collection), actor, allowed=False),
            Case(collection, op_list(collection), actor, allowed=False),
            Case(collection, op_create(collection, new_id, new_doc), actor, allowed=False),
            Case(collection, op_update(collection, target, {"userId": BOB}), actor, False),
            Case(collection, op_delete(collection, target), actor, allowed=False),
        ]
    # Queries filtered on userId: allowed only when the filter is the caller's own uid.
    for actor in ACTORS:
        for owner in (ALICE, BOB):
            op = op_query(collection, {"userId": owner})
            cases.append(Case(collection, op, actor, allowed=actor == owner))
    # A document that does not exist is refused like someone else's: existence is not leaked.
    cases.append(Case(collection, op_get(collection, "does-not-exist"), ALICE, allowed=False))
    # No collection-group access: the rules only match the top-level collection.
    cases.append(Case(collection, op_collection_group_query(collection, ALICE), ALICE, False))
    # Subcollections under an owned document fall through to the deny-all match.
    sub = f"{collection}/{target}/private"
    cases.append(Case(sub, op_list(sub), ALICE, allowed=False))
    cases.append(Case(sub, op_create(sub, "x", {"userId": ALICE}), ALICE, allowed=False))
    return cases


def _server_only_cases(collection: str) -> list[Case]:
    """activeJobCounters, rateLimitWindows, idempotencyKeys: no client access at all."""
    target = ALICE_DOC[collection]
    data = {"userId": ALICE, "activeJobs": 0, "count": 0}
    cases: list[Case] = []
    for actor in ACTORS:
        for op in (
            op_get(collection, target),
            op_list(collection),
            op_query(collection),
            op_query(collection, {"userId": ALICE}),
            op_create(collection, f"client-{actor}", data),
            op_set(collection, f"client-set-{actor}", data),
            op_update(collection, target, {"count": 0, "activeJobs": 0}),
            op_delete(collection, target),
        ):
            cases.append(Case(collection, op, actor, allowed=False))
    return cases


def _extra_cases() -> list[Case]:
    own_job = {"userId": ALICE, "prompt": "photosynthesis", "status": "pending"}
    return [
        # The listener query the app's composite index exists for.
        Case(
            JOBS,
            op_query(JOBS, {"userId": ALICE}, order_by="createdAt", label="query(mine,newest)"),
            ALICE,
            allowed=True,
        ),
        # A question deck for one job is readable only together with the userId filter.
        Case(QUESTIONS, op_query(QUESTIONS, {"generationJobId": "job-alice-1"}), ALICE, False),
        Case(
            QUESTIONS,
            op_query(QUESTIONS, {"userId": ALICE, "generationJobId": "job-alice-1"}),
            ALICE,
            allowed=True,
        ),
        # A client cannot create a job claiming its own userId, whichever write path it uses.
        Case(JOBS, op_commit_create(JOBS, "client-own-commit", own_job), ALICE, False),
        Case(JOBS, op_set(JOBS, "client-own-set", own_job), ALICE, False),
        Case(QUESTIONS, op_set(QUESTIONS, "client-own-set", {"userId": ALICE}), ALICE, False),
    ]


CASES: list[Case] = [
    *_user_data_cases(JOBS),
    *_user_data_cases(QUESTIONS),
    *_server_only_cases(ACTIVE_COUNTERS),
    *_server_only_cases(RATE_WINDOWS),
    *_server_only_cases(IDEMPOTENCY_KEYS),
    *_server_only_cases(TOKEN_BUDGETS),
    *_server_only_cases(LEARNER_DEVICES),
    *_server_only_cases(NOTIFICATION_OUTBOX),
    *_extra_cases(),
]
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def _result_ids(response: httpx.Response) -> set[str]:
    body = response.json()
    if isinstance(body, list):  # runQuery: a stream of {document?, readTime}
        names = [entry["document"]["name"] for entry in body if "document" in entry]
    else:  # a single document
        names = [body["name"]]
    return {name.rsplit("/", 1)[-1] for name in names}


def assert_permission_denied(response: httpx.Response, rule_method: str) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    error = response.json()
    if isinstance(error, list):  # a streamed runQuery error
        error = error[0]
    error = error["error"]
    assert error["status"] == "PERMISSION_DENIED", error
    assert f"for '{rule_method}'" in error["message"], error


def _stored(client: Any, collection: str, doc_id: str) -> dict[str, Any] | None:
    snapshot = client.collection(collection).document(doc_id).get()
    return snapshot.to_dict() if snapshot.exists else None


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_rules(case: Case, seeded: Any, http: httpx.Client) -> None:
    response = case.op.send(http, _headers(case.actor))

    if case.op.is_write:
        assert case.op.target is not None
        collection, doc_id = case.op.target
        stored = _stored(seeded, collection, doc_id)
        expected = SEED.get(collection, {}).get(doc_id)
        if stored != expected:
            _seed_document(seeded, collection, doc_id)  # keep the shared seed for later cases
        assert stored == expected, f"{case.actor} changed {collection}/{doc_id}"

    if case.allowed:
        assert response.status_code == 200, response.text
        assert _result_ids(response) == case.op.expect_ids
        for doc_id in _result_ids(response):
            assert SEED[case.collection][doc_id]["userId"] == case.actor
    else:
        assert_permission_denied(response, case.op.rule_method)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id) for c in CASES if not c.allowed and not c.op.is_write],
)
def test_denied_reads_succeed_when_rules_are_bypassed(
    case: Case, seeded: Any, http: httpx.Client
) -> None:
    """Control: the exact request works as the emulator's admin, so only the rules refuse it."""
    response = case.op.send(http, _headers(ADMIN))
    # A get of a missing document passes the (bypassed) rules and then finds nothing.
    assert response.status_code == (404 if "does-not-exist" in case.op.label else 200), (
        response.text
    )


def test_no_authorization_header_is_evaluated_as_request_auth_null(http: httpx.Client) -> None:
    """Pins the emulator behaviour the ANON cases rely on (see the module docstring)."""
    probe_project = f"{PROJECT_ID}-auth-probe"  # its own rules; PROJECT_ID's are untouched
    rules = """rules_version = '2';
    service cloud.firestore {
      match /databases/{database}/documents {
        match /{document=**} {
          allow get: if request.auth == null;
          allow write: if false;
        }
      }
    }"""
    loaded = http.put(
        f"/emulator/v1/projects/{probe_project}:securityRules",
        json={"rules": {"files": [{"name": "firestore.rules", "content": rules}]}},
    )
    assert loaded.status_code == 200, loaded.text
    path = f"/v1/projects/{probe_project}/databases/(default)/documents/probe/doc"
    create = {"fields": {"userId": {"stringValue": ALICE}}}

    # No header: the rules run and see request.auth == null (the get passes them, then 404s).
    assert http.get(path, headers=_headers(ANON)).status_code == 404
    # A user token: request.auth is set, so the same rule refuses it.
    signed_in = http.get(path, headers=_headers(ALICE, probe_project))
    assert_permission_denied(signed_in, "get")
    # No header is not admin: writes stay denied, while the owner token bypasses the rules.
    assert_permission_denied(http.patch(path, headers=_headers(ANON), json=create), "create")
    assert http.patch(path, headers=_headers(ADMIN), json=create).status_code == 200
