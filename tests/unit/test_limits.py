from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from qgen.domain.errors import DomainError, ErrorCode
from qgen.domain.limits import (
    AdmissionState,
    RateScope,
    check_admission,
    client_ip,
    idempotency_document_id,
    normalise_prompt,
    window_for,
)

NOW = datetime(2026, 11, 28, 14, 25, 10, tzinfo=UTC)


def _code(exc: pytest.ExceptionInfo[DomainError]) -> ErrorCode:
    return exc.value.code


class TestPrompt:
    def test_is_trimmed(self) -> None:
        assert normalise_prompt("  NATO alphabet\n", min_length=3, max_length=20) == (
            "NATO alphabet"
        )
        assert normalise_prompt("  abc \t", min_length=3, max_length=5) == "abc"

    @pytest.mark.parametrize("raw", ["", "  ", "ab", "  ab  ", "\n\t"])
    def test_too_short_after_trimming(self, raw: str) -> None:
        with pytest.raises(DomainError) as exc:
            normalise_prompt(raw, min_length=3, max_length=5000)
        assert _code(exc) is ErrorCode.PROMPT_TOO_SHORT

    def test_boundaries(self) -> None:
        assert normalise_prompt("x" * 5000, min_length=3, max_length=5000) == "x" * 5000
        assert normalise_prompt("   " + "x" * 5000 + "   ", min_length=3, max_length=5000)
        with pytest.raises(DomainError) as exc:
            normalise_prompt("x" * 5001, min_length=3, max_length=5000)
        assert _code(exc) is ErrorCode.PROMPT_TOO_LONG
        assert exc.value.details == {"maxLength": 5000, "length": 5001}

    @given(st.text(max_size=60))
    def test_result_is_always_trimmed_and_within_limits(self, raw: str) -> None:
        expected_length = len(raw.strip())
        if 3 <= expected_length <= 40:
            prompt = normalise_prompt(raw, min_length=3, max_length=40)
            assert prompt == raw.strip()
        else:
            with pytest.raises(DomainError) as exc:
                normalise_prompt(raw, min_length=3, max_length=40)
            too_short = expected_length < 3
            assert exc.value.code is (
                ErrorCode.PROMPT_TOO_SHORT if too_short else ErrorCode.PROMPT_TOO_LONG
            )


class TestWindows:
    def test_fixed_hour_window(self) -> None:
        w = window_for(RateScope.USER, "u1", limit=20, window_seconds=3600, now=NOW)
        assert w.start == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
        assert w.end == datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
        assert w.seconds_until_reset(NOW) == 3600 - (25 * 60 + 10)

    def test_document_ids_separate_scopes_keys_and_windows(self) -> None:
        a = window_for(RateScope.USER, "x", limit=1, window_seconds=3600, now=NOW)
        b = window_for(RateScope.IP, "x", limit=1, window_seconds=3600, now=NOW)
        c = window_for(RateScope.USER, "y", limit=1, window_seconds=3600, now=NOW)
        d = window_for(
            RateScope.USER, "x", limit=1, window_seconds=3600, now=NOW + timedelta(hours=1)
        )
        ids = {w.document_id for w in (a, b, c, d)}
        assert len(ids) == 4
        assert all("/" not in i for i in ids)

    def test_same_window_within_the_hour(self) -> None:
        a = window_for(RateScope.USER, "x", limit=1, window_seconds=3600, now=NOW)
        b = window_for(
            RateScope.USER, "x", limit=1, window_seconds=3600, now=NOW + timedelta(minutes=30)
        )
        assert a.document_id == b.document_id


class TestAdmission:
    def _windows(self, user_count: int, ip_count: int) -> AdmissionState:
        user = window_for(RateScope.USER, "u", limit=20, window_seconds=3600, now=NOW)
        ip = window_for(RateScope.IP, "1.2.3.4", limit=100, window_seconds=60, now=NOW)
        return AdmissionState(active_jobs=0, window_counts={user: user_count, ip: ip_count})

    def test_admits_under_every_limit(self) -> None:
        check_admission(self._windows(19, 99), max_active=3, now=NOW)

    @pytest.mark.parametrize("active", [3, 4, 10])
    def test_active_cap(self, active: int) -> None:
        state = AdmissionState(active_jobs=active, window_counts={})
        with pytest.raises(DomainError) as exc:
            check_admission(state, max_active=3, now=NOW)
        assert _code(exc) is ErrorCode.CONCURRENCY_LIMIT
        assert exc.value.retry_after_seconds is None

    def test_user_window_full_gives_retry_after_until_its_reset(self) -> None:
        with pytest.raises(DomainError) as exc:
            check_admission(self._windows(20, 0), max_active=3, now=NOW)
        assert _code(exc) is ErrorCode.RATE_LIMITED
        assert exc.value.retry_after_seconds == 3600 - (25 * 60 + 10)
        assert exc.value.details["scope"] == "user"

    def test_ip_window_full(self) -> None:
        with pytest.raises(DomainError) as exc:
            check_admission(self._windows(0, 100), max_active=3, now=NOW)
        assert exc.value.details["scope"] == "ip"
        assert exc.value.retry_after_seconds == 50

    def test_both_full_waits_for_the_later_reset(self) -> None:
        with pytest.raises(DomainError) as exc:
            check_admission(self._windows(20, 100), max_active=3, now=NOW)
        assert exc.value.retry_after_seconds == 3600 - (25 * 60 + 10)

    def test_concurrency_is_reported_before_rate(self) -> None:
        state = self._windows(20, 100)
        state = AdmissionState(active_jobs=3, window_counts=state.window_counts)
        with pytest.raises(DomainError) as exc:
            check_admission(state, max_active=3, now=NOW)
        assert _code(exc) is ErrorCode.CONCURRENCY_LIMIT


class TestClientIp:
    def test_last_forwarded_entry_is_the_one_our_front_end_added(self) -> None:
        assert client_ip("6.6.6.6, 203.0.113.9", "10.0.0.1", trusted_hops=1) == "203.0.113.9"

    def test_two_trusted_hops(self) -> None:
        assert client_ip("6.6.6.6, 203.0.113.9, 10.1.1.1", None, trusted_hops=2) == "203.0.113.9"

    def test_no_header_falls_back_to_the_peer(self) -> None:
        assert client_ip(None, "127.0.0.1", trusted_hops=1) == "127.0.0.1"

    def test_untrusted_header_is_ignored(self) -> None:
        assert client_ip("6.6.6.6", "127.0.0.1", trusted_hops=0) == "127.0.0.1"

    def test_ipv6_is_normalised(self) -> None:
        assert client_ip("2001:DB8:0:0::1", None, trusted_hops=1) == "2001:db8::1"

    @pytest.mark.parametrize("junk", ["not-an-ip", "", "1.2.3.4:80", "<script>"])
    def test_garbage_becomes_unknown(self, junk: str) -> None:
        assert client_ip(junk, junk or None, trusted_hops=1) == "unknown"


def test_idempotency_ids_are_per_user() -> None:
    assert idempotency_document_id("a", "k") != idempotency_document_id("b", "k")
    assert idempotency_document_id("a", "k") == idempotency_document_id("a", "k")
