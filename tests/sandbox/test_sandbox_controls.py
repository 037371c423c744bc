"""Controls: injected faults, the clock, the request log, reset and health."""

import httpx
import pytest

SEND = "/v1/numbers/100001/messages/native/send"
PAYLOAD = {"to": "+14155550100", "body": "hi"}


def sent_messages(control):
    return control.get("/_sandbox/messages", params={"direction": "outbound"}).json()["messages"]


def test_a_fault_before_answers_its_status_and_sends_nothing(api, control):
    control.post("/_sandbox/faults", json={"status": 503, "path_contains": "/messages/"})

    response = api.post(SEND, json=PAYLOAD)

    assert response.status_code == 503
    assert response.json()["key"] == "ServiceUnavailable"
    assert sent_messages(control) == []


def test_a_fault_hits_only_the_next_count_matching_requests(api, control):
    created = control.post("/_sandbox/faults", json={"status": 500, "count": 2, "path_contains": "/send"})
    assert created.status_code == 201

    assert api.get("/v1/ping").status_code == 200
    assert [api.post(SEND, json=PAYLOAD).status_code for _ in range(3)] == [500, 500, 200]
    assert control.get("/_sandbox/faults").json()["faults"] == []


def test_a_fault_after_performs_the_send_then_fails_the_answer(api, control):
    control.post("/_sandbox/faults", json={"status": 502, "mode": "after"})

    response = api.post(SEND, json=PAYLOAD)

    assert response.status_code == 502
    [message] = sent_messages(control)
    assert message["external_number"] == PAYLOAD["to"]
    [logged] = control.get("/_sandbox/requests").json()["requests"]
    assert logged["fault"] == {"mode": "after", "status": 502, "latency_ms": 0}
    assert logged["message_id"] == message["id"]


def test_latency_after_the_send_is_the_outcome_unknown_case(sandbox, control):
    control.post("/_sandbox/faults", json={"latency_ms": 400, "mode": "after"})

    with pytest.raises(httpx.ReadTimeout):
        sandbox.api.post(SEND, json=PAYLOAD, timeout=0.1)

    assert len(sent_messages(control)) == 1


def test_latency_alone_delays_a_normal_answer(api, control):
    control.post("/_sandbox/faults", json={"latency_ms": 150, "method": "GET", "path_contains": "/ping"})

    response = api.get("/v1/ping")

    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.15


def test_faults_can_be_cleared(api, control):
    control.post("/_sandbox/faults", json={"status": 500, "count": 5})

    assert control.delete("/_sandbox/faults").status_code == 204
    assert api.get("/v1/ping").status_code == 200


@pytest.mark.parametrize(
    "fault",
    [{"status": 200}, {"status": 500, "count": 0}, {"latency_ms": -1}, {}, {"status": 500, "mode": "sideways"}],
    ids=["success-status", "zero-count", "negative-latency", "empty", "bad-mode"],
)
def test_a_bad_fault_is_refused(control, fault):
    response = control.post("/_sandbox/faults", json=fault)

    assert response.status_code == 400
    assert response.json()["error"]


def test_faulted_requests_still_consume_the_budget(start_sandbox):
    running = start_sandbox(requests_per_minute=2)
    running.control.post("/_sandbox/clock", json={"set": "2026-03-10T10:00:00Z"})
    running.control.post("/_sandbox/faults", json={"status": 500, "count": 2})

    assert [running.api.get("/v1/ping").status_code for _ in range(3)] == [500, 500, 429]


def test_the_clock_can_be_set_and_advanced(control):
    assert control.get("/_sandbox/clock").json()["offset_seconds"] == 0

    set_to = control.post("/_sandbox/clock", json={"set": "2026-11-26T14:00:00Z"}).json()
    advanced = control.post("/_sandbox/clock", json={"advance_seconds": 90}).json()

    assert set_to["now"].startswith("2026-11-26T14:00:0")
    assert advanced["now"].startswith("2026-11-26T14:01:3")
    assert advanced["epoch_ms"] - set_to["epoch_ms"] >= 90_000


@pytest.mark.parametrize("body", [{}, {"set": "yesterday"}, {"advance_seconds": "ten"}])
def test_a_bad_clock_request_is_refused(control, body):
    assert control.post("/_sandbox/clock", json=body).status_code == 400


def test_the_request_log_can_be_filtered(api, control):
    api.get("/v1/ping")
    api.get("/v1/numbers")
    api.post(SEND, json=PAYLOAD)

    posts = control.get("/_sandbox/requests", params={"method": "post"}).json()["requests"]
    numbers = control.get("/_sandbox/requests", params={"path_contains": "/v1/numbers"}).json()["requests"]

    assert [entry["path"] for entry in posts] == [SEND]
    assert [entry["path"] for entry in numbers] == ["/v1/numbers", SEND]
    assert [entry["seq"] for entry in numbers] == [2, 3]


def test_reset_returns_to_the_initial_state(api, control):
    api.post("/v1/numbers/100002/messages/configuration", json={"callbackUrl": "https://example.com"})
    api.post(SEND, json=PAYLOAD)
    control.post("/_sandbox/clock", json={"advance_seconds": 86_400})
    control.post("/_sandbox/failures", json={"next": 3})
    control.post("/_sandbox/faults", json={"status": 500})
    control.post("/_sandbox/webhook", json={"url": "https://example.com/hook"})

    assert control.post("/_sandbox/reset").json() == {"reset": True}

    assert sent_messages(control) == []
    assert control.get("/_sandbox/requests").json()["requests"] == []
    assert control.get("/_sandbox/callbacks").json() == {"callbacks": [], "pending": 0}
    assert control.get("/_sandbox/clock").json()["offset_seconds"] == 0
    assert control.get("/_sandbox/failures").json() == {"next": 0, "to": {}}
    assert control.get("/_sandbox/faults").json()["faults"] == []
    usage = control.get("/_sandbox/usage").json()
    assert usage["company"]["used"] == 0
    assert all(number["used"] == {"month": 0, "day": 0, "hour": 0} for number in usage["numbers"])
    assert api.get("/v1/numbers/100002/messages/configuration").status_code == 404


def test_an_unknown_control_is_404_and_a_wrong_method_405(control):
    assert control.get("/_sandbox/nothing").status_code == 404
    assert control.delete("/_sandbox/health").status_code == 405


def test_a_control_body_must_be_json(control):
    response = control.post("/_sandbox/faults", content=b"status=500")

    assert response.status_code == 400
    assert response.json() == {"error": "request body must be JSON"}


def test_a_path_outside_v1_and_controls_is_404(control):
    assert control.get("/").status_code == 404
