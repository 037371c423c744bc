"""The choice of a pool's sender (`domain.pools.choose`): sticky thread, most room, the share cap, the French
mobile rule, and when a full pool reopens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aircall_sms.domain import pools
from aircall_sms.domain.phone import PhoneNumber
from aircall_sms.domain.pools import Candidate, WindowUse, choose

NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
HOUR_END = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
DAY_END = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=24)
US_CONTACT = PhoneNumber(e164="+14244162290", region="US", kind="mobile", country_code=1)
FR_CONTACT = PhoneNumber(e164="+33612345679", region="FR", kind="mobile", country_code=33)


def us(number_id: str, *, hour_used: int = 0, day_used: int = 0, wrote: datetime | None = None) -> Candidate:
    return Candidate(
        number_id=number_id,
        sender=PhoneNumber(e164=f"+1424416{number_id[-4:]}", region="US", kind="fixed_line", country_code=1),
        registration="approved",
        windows=(WindowUse("day", 100, day_used, DAY_END), WindowUse("hour", 10, hour_used, HOUR_END)),
        contact_wrote_at=wrote,
    )


def fr(number_id: str, kind: str, *, wrote: datetime | None = None, hour_used: int = 0) -> Candidate:
    return Candidate(
        number_id=number_id,
        sender=PhoneNumber(e164="+3361234" + number_id[-4:], region="FR", kind=kind, country_code=33),
        registration="none",
        windows=(WindowUse("hour", 10, hour_used, HOUR_END),),
        contact_wrote_at=wrote,
    )


def pick(candidates: list[Candidate], *, to: PhoneNumber = US_CONTACT, segments: int = 1, **options: object):
    arguments: dict[str, object] = {
        "recipient": to,
        "purpose": "conversational",
        "human_author": None,
        "segments": segments,
        "share": 0.9,
        "conversation_since": SINCE,
    } | options
    return choose(candidates, **arguments)  # type: ignore[arg-type]


def test_the_number_the_contact_wrote_to_comes_first_even_with_less_room() -> None:
    choice = pick([us("100001", hour_used=5, wrote=NOW - timedelta(days=3)), us("100007")])
    assert [(p.number_id, p.reason) for p in choice.order] == [("100001", "sticky_thread"), ("100007", "most_room")]


def test_the_most_recent_thread_wins_when_the_contact_wrote_to_several() -> None:
    choice = pick([us("100001", wrote=NOW - timedelta(days=3)), us("100007", wrote=NOW - timedelta(hours=1))])
    assert choice.order[0] == pools.Pick("100007", "sticky_thread")


def test_without_a_thread_the_number_with_the_most_room_comes_first() -> None:
    choice = pick([us("100001", hour_used=5), us("100002", hour_used=1), us("100007", hour_used=3)])
    assert [p.number_id for p in choice.order] == ["100002", "100007", "100001"]
    assert {p.reason for p in choice.order} == {"most_room"}


def test_room_is_the_tightest_window_under_the_share() -> None:
    # 100001: hour 9-0=9 but day 90-88=2; 100007: hour 9-4=5, day 90
    choice = pick([us("100001", day_used=88), us("100007", hour_used=4)])
    assert [p.number_id for p in choice.order] == ["100007", "100001"]


def test_a_number_at_its_share_is_never_chosen_though_its_limit_has_room() -> None:
    # 9 of 10 used: the limit has room for 1, the 90 % share none.
    choice = pick([us("100001", hour_used=9, wrote=NOW), us("100007", hour_used=8)])
    assert [p.number_id for p in choice.order] == ["100007"]
    assert choice.order[0].reason == "most_room"


def test_a_full_pool_names_the_number_that_reopens_first() -> None:
    choice = pick([us("100001", hour_used=9, day_used=90), us("100007", hour_used=9)], segments=1)
    assert choice.order == []
    assert choice.reopens == ("100007", HOUR_END)


def test_a_message_larger_than_every_share_never_fits() -> None:
    choice = pick([us("100001"), us("100007")], segments=10)
    assert (choice.order, choice.reopens) == ([], None)


def test_a_french_mobile_line_without_a_thread_cannot_start_one() -> None:
    choice = pick([fr("100004", "mobile"), fr("100005", "fixed_line")], to=FR_CONTACT)
    assert [p.number_id for p in choice.order] == ["100005"]
    assert choice.refused["100004"].code == "conversational_only"


def test_a_french_mobile_line_answers_its_thread_first() -> None:
    choice = pick([fr("100004", "mobile", wrote=NOW - timedelta(hours=2)), fr("100005", "fixed_line")], to=FR_CONTACT)
    assert choice.order[0] == pools.Pick("100004", "sticky_thread")


def test_a_french_mobile_thread_older_than_the_conversation_window_is_closed() -> None:
    choice = pick([fr("100004", "mobile", wrote=SINCE - timedelta(minutes=1))], to=FR_CONTACT)
    assert choice.order == [] and choice.reopens is None
    assert choice.refused["100004"].code == "conversational_only"


def test_a_person_may_write_from_a_french_mobile_line_without_a_thread() -> None:
    choice = pick([fr("100004", "mobile")], to=FR_CONTACT, human_author="Camille")
    assert choice.order == [pools.Pick("100004", "most_room")]


def test_french_mobile_lines_never_send_marketing() -> None:
    choice = pick([fr("100004", "mobile", wrote=NOW)], to=FR_CONTACT, purpose="marketing")
    assert choice.order == [] and choice.refused["100004"].code == "conversational_only"


def test_numbers_of_another_country_are_refused_as_not_domestic() -> None:
    choice = pick([us("100001")], to=FR_CONTACT)
    assert choice.order == [] and choice.refused["100001"].code == "not_domestic"


def test_an_unregistered_us_number_is_skipped() -> None:
    unregistered = Candidate(
        number_id="100002",
        sender=PhoneNumber(e164="+18334670142", region="US", kind="fixed_line", country_code=1),
        registration="none",
        windows=(WindowUse("hour", 10, 0, HOUR_END),),
    )
    choice = pick([unregistered, us("100001", hour_used=8)])
    assert [p.number_id for p in choice.order] == ["100001"]
    assert choice.refused["100002"].code == "number_not_registered"


def test_pool_ids_and_countries() -> None:
    assert pools.pool_id_of("pool:support-fr") == "support-fr"
    assert pools.pool_id_of("100001") is None and pools.pool_id_of(100001) is None
    assert pools.is_pool_id("support_fr-2") and not pools.is_pool_id("Support") and not pools.is_pool_id("")
    assert not pools.is_pool_id("a" * 65)
    assert pools.same_country(["US", "CA", "US"]) and pools.same_country(["FR"])
    assert not pools.same_country(["FR", "GB"]) and not pools.same_country(["US", "FR"])
    assert pools.cap(10, 0.9) == 9 and pools.cap(1000, 0.9) == 900 and pools.cap(10, 1.0) == 10
