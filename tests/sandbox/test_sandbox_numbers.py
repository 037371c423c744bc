"""Numbers: the seed set, listing and pagination as Aircall does it, extra numbers from a file or a control."""

import json

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

SEED = {
    100001: ("+14244162288", "US", PhoneNumberType.FIXED_LINE_OR_MOBILE, "us_ca"),
    100002: ("+18334670142", "US", PhoneNumberType.TOLL_FREE, "us_ca"),
    100003: ("+14388132200", "CA", PhoneNumberType.FIXED_LINE_OR_MOBILE, "us_ca"),
    100004: ("+33612345678", "FR", PhoneNumberType.MOBILE, "fr_mobile"),
    100005: ("+33186954210", "FR", PhoneNumberType.FIXED_LINE, "other"),
    100006: ("+442039661234", "GB", PhoneNumberType.FIXED_LINE, "other"),
    100007: ("+13322210180", "US", PhoneNumberType.FIXED_LINE_OR_MOBILE, "us_ca"),
}
NUMBER_FIELDS = {
    "id",
    "direct_link",
    "name",
    "digits",
    "country",
    "time_zone",
    "open",
    "availability_status",
    "is_ivr",
    "live_recording_activated",
    "priority",
    "messages",
    "created_at",
}
SANDBOX_FIELDS = {"e164", "kind", "sms_enabled", "mms_enabled", "toll_free", "toll_free_verification"}


@pytest.mark.parametrize("number_id", sorted(SEED))
def test_each_seed_number_is_a_valid_number_of_its_kind(api, control, number_id):
    e164, country, line_type, kind = SEED[number_id]

    number = api.get(f"/v1/numbers/{number_id}").json()["number"]
    parsed = phonenumbers.parse(number["digits"])

    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == e164
    assert phonenumbers.region_code_for_number(parsed) == country == number["country"]
    assert phonenumbers.number_type(parsed) == line_type
    sandbox_view = {item["id"]: item for item in control.get("/_sandbox/numbers").json()["numbers"]}
    assert sandbox_view[number_id]["kind"] == kind
    assert sandbox_view[number_id]["e164"] == e164


def test_listing_shows_every_number_with_aircalls_fields_and_meta(sandbox, api):
    body = api.get("/v1/numbers").json()

    assert [number["id"] for number in body["numbers"]] == sorted(SEED)
    assert set(body["numbers"][0]) == NUMBER_FIELDS
    assert body["numbers"][0]["digits"] == "+1 424-416-2288"
    assert body["numbers"][0]["direct_link"] == f"{sandbox.url}/v1/numbers/100001"
    assert body["meta"] == {
        "count": len(SEED),
        "total": len(SEED),
        "current_page": 1,
        "per_page": 20,
        "next_page_link": None,
        "previous_page_link": None,
    }


def test_pages_link_to_their_neighbours(sandbox, api):
    middle = api.get("/v1/numbers", params={"page": 2, "per_page": 3}).json()
    last = api.get("/v1/numbers", params={"page": 3, "per_page": 3}).json()

    assert [number["id"] for number in middle["numbers"]] == [100004, 100005, 100006]
    assert middle["meta"]["next_page_link"] == f"{sandbox.url}/v1/numbers?page=3&per_page=3"
    assert middle["meta"]["previous_page_link"] == f"{sandbox.url}/v1/numbers?page=1&per_page=3"
    assert [number["id"] for number in last["numbers"]] == [100007]
    assert last["meta"]["count"] == 1
    assert last["meta"]["next_page_link"] is None


def test_per_page_is_capped_at_50_and_a_page_past_the_end_is_empty(api):
    assert api.get("/v1/numbers", params={"per_page": 500}).json()["meta"]["per_page"] == 50
    assert api.get("/v1/numbers", params={"page": 9}).json()["numbers"] == []


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "two"}, {"per_page": "-1"}])
def test_a_bad_page_parameter_is_invalid_payload(api, params):
    response = api.get("/v1/numbers", params=params)

    assert response.status_code == 400
    assert response.json()["key"] == "InvalidPayload"


def test_an_unknown_number_is_404(api):
    response = api.get("/v1/numbers/999")

    assert response.status_code == 404
    assert response.json() == {"key": "NotFound", "message": "Number 999 not found"}


def test_a_numbers_file_adds_numbers(start_sandbox, tmp_path):
    numbers_file = tmp_path / "numbers.json"
    numbers_file.write_text(
        json.dumps(
            {"numbers": [{"id": 200001, "name": "Berlin", "digits": "+49 30 901820", "time_zone": "Europe/Berlin"}]}
        )
    )

    running = start_sandbox(numbers_file=numbers_file)
    number = running.api.get("/v1/numbers/200001").json()["number"]

    assert number["country"] == "DE"
    assert number["digits"] == "+49 30 901820"
    assert number["time_zone"] == "Europe/Berlin"
    assert running.api.get("/v1/numbers").json()["meta"]["total"] == len(SEED) + 1
    in_control = {item["id"]: item for item in running.control.get("/_sandbox/numbers").json()["numbers"]}
    assert (in_control[200001]["sms_enabled"], in_control[200001]["mms_enabled"]) == (True, False)


def test_a_control_adds_numbers_until_reset(api, control):
    added = control.post("/_sandbox/numbers", json={"id": 200002, "name": "Madrid", "digits": "+34 912 34 56 78"})

    assert added.status_code == 201
    assert api.get("/v1/numbers/200002").json()["number"]["country"] == "ES"
    control.post("/_sandbox/reset")
    assert api.get("/v1/numbers/200002").status_code == 404


def test_a_control_refuses_a_taken_id_and_invalid_digits(control):
    taken = control.post("/_sandbox/numbers", json={"id": 100001, "name": "Again", "digits": "+1 424-416-2288"})
    invalid = control.post("/_sandbox/numbers", json={"numbers": [{"id": 200003, "name": "X", "digits": "+1 555"}]})

    assert taken.status_code == 409
    assert invalid.status_code == 400
    assert "not a valid phone number" in invalid.json()["error"]


def test_a_v1_number_shows_only_aircalls_fields(api):
    number = api.get("/v1/numbers/100001").json()["number"]

    assert set(number) == NUMBER_FIELDS
    assert "e164_digits" not in number


def test_the_control_view_adds_what_only_the_sandbox_knows(control):
    numbers = {item["id"]: item for item in control.get("/_sandbox/numbers").json()["numbers"]}

    assert set(numbers[100001]) == NUMBER_FIELDS | SANDBOX_FIELDS
    assert (numbers[100001]["toll_free"], numbers[100001]["toll_free_verification"]) == (False, None)
    assert (numbers[100007]["sms_enabled"], numbers[100001]["mms_enabled"]) == (False, True)


def test_a_number_definition_with_a_field_aircall_does_not_have_is_refused(control):
    response = control.post("/_sandbox/numbers", json={"id": 200004, "name": "X", "digits": "+34 912 34 56 78", "a": 1})

    assert response.status_code == 400
    assert "unknown fields ['a']" in response.json()["error"]


@pytest.mark.parametrize(
    "field",
    [
        {"open": "yes"},
        {"availability_status": "busy"},
        {"priority": 2},
        {"time_zone": ""},
        {"messages": {"welcome": 3}},
        {"sms_enabled": "no"},
    ],
    ids=lambda field: next(iter(field)),
)
def test_a_number_definition_with_a_field_of_the_wrong_type_is_refused(control, field):
    definition = {"id": 200005, "name": "X", "digits": "+34 912 34 56 78"} | field

    response = control.post("/_sandbox/numbers", json=definition)

    assert response.status_code == 400
    assert next(iter(field)) in response.json()["error"]
