"""GET /aircall/numbers' use case against the Aircall sandbox over HTTP and the DynamoDB emulator: the company's
numbers as Aircall lists them, paged through Aircall's GET /v1/numbers, each with its configuration here; the
answer stops after a bounded number of Aircall pages and its cursor goes on from there."""

from __future__ import annotations

import pytest

from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.access import Principal
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.errors import InvalidRequest
from aircall_sms.use_cases import numbers

SEEDED = 7  # aircall_sandbox/numbers.json
EXTRA_FIRST_ID = 300001


def add_numbers(sandbox_api, count: int) -> None:
    definitions = [
        {"id": EXTRA_FIRST_ID + i, "name": f"Line {i}", "digits": f"+1 424-416-{i:04d}", "country": "US"}
        for i in range(count)
    ]
    sandbox_api.post("/_sandbox/numbers", json={"numbers": definitions}).raise_for_status()


def aircall_list_requests(sandbox_api) -> list[dict[str, object]]:
    entries = sandbox_api.get("/_sandbox/requests", params={"method": "GET"}).json()["requests"]
    return [entry for entry in entries if entry["path"] == "/v1/numbers"]


def test_every_number_of_the_account_is_listed_with_its_configuration_here(gateway, sandbox_api):
    # Given one number in proxy mode and one in agent mode
    numbers.configure(ADMIN, "100005", NumberRequest(mode="proxy"), request_callback_url="")
    numbers.configure(ADMIN, "100006", NumberRequest(mode="agent"), request_callback_url="")
    # When the account's numbers are listed
    answer = numbers.list_in_aircall(ADMIN)
    # Then every number Aircall has is there, once, in Aircall's order, with what the gateway knows of it
    items = {item["number_id"]: item for item in answer["items"]}
    assert len(answer["items"]) == SEEDED and answer["next_cursor"] is None
    assert (items[100005]["configured"], items[100005]["mode"]) == (True, "proxy")
    assert (items[100006]["configured"], items[100006]["mode"]) == (True, "agent")
    assert (items[100001]["configured"], items[100001]["mode"]) == (False, None)
    assert items[100001] | {"configured": False} == {
        "number_id": 100001,
        "name": "US Support (Los Angeles)",
        "digits": "+1 424-416-2288",
        "e164": "+14244162288",
        "country": "US",
        "time_zone": items[100001]["time_zone"],
        "created_at": items[100001]["created_at"],
        "configured": False,
        "mode": None,
    }
    assert items[100001]["time_zone"] and items[100001]["created_at"]


def test_the_list_pages_through_aircall(gateway, sandbox_api):
    # Given 60 more numbers: 67 in all, two of Aircall's pages of 50
    add_numbers(sandbox_api, 60)
    answer = numbers.list_in_aircall(ADMIN)
    assert len(answer["items"]) == SEEDED + 60
    assert len({item["number_id"] for item in answer["items"]}) == SEEDED + 60
    assert answer["next_cursor"] is None
    pages = [entry["query"] for entry in aircall_list_requests(sandbox_api)]
    assert pages == [{"page": "1", "per_page": "50"}, {"page": "2", "per_page": "50"}]


def test_an_answer_reads_at_most_ten_pages_and_its_cursor_goes_on(gateway, sandbox_api):
    add_numbers(sandbox_api, 520)  # 527: eleven pages
    first = numbers.list_in_aircall(ADMIN)
    assert len(first["items"]) == 500 and first["next_cursor"]
    assert len(aircall_list_requests(sandbox_api)) == numbers.AIRCALL_PAGES_PER_ANSWER
    rest = numbers.list_in_aircall(ADMIN, first["next_cursor"])
    assert len(rest["items"]) == 27 and rest["next_cursor"] is None
    seen = [item["number_id"] for item in first["items"] + rest["items"]]
    assert len(set(seen)) == 527


def test_a_key_limited_to_numbers_sees_only_them(gateway, sandbox_api):
    limited = Principal("key_limited", frozenset({"read"}), frozenset({"100004", "100006"}))
    assert [item["number_id"] for item in numbers.list_in_aircall(limited)["items"]] == [100004, 100006]


@pytest.mark.parametrize("cursor", ["nonsense", "eyJwYWdlIjp7IlMiOiIwIn19", "eyJwYWdlIjp7IlMiOiJ4In19"])
def test_a_cursor_this_list_did_not_return_is_400(gateway, cursor):
    with pytest.raises(InvalidRequest) as refused:
        numbers.list_in_aircall(ADMIN, cursor)
    assert refused.value.details == {"field": "cursor"}
