"""The pure rules of campaigns: placeholders and their values, the recipients checked (each mistake names its
field), the bounded chunks they are stored in, the pause/resume/cancel machine, the budget share and the ETA."""

from __future__ import annotations

import json

import pytest

from aircall_sms.domain import campaigns
from aircall_sms.domain.campaigns import Recipient, WindowRoom
from aircall_sms.errors import CampaignInvalid, CampaignNotChangeable


def test_placeholders_are_rendered_with_their_values() -> None:
    text = "Bonjour {{ name }}, rendez-vous {{when}}. {{name}}"
    assert campaigns.placeholders(text) == ["name", "when"]
    assert campaigns.render(text, {"name": "Ana", "when": "mardi"}) == "Bonjour Ana, rendez-vous mardi. Ana"


def test_placeholders_without_values_name_the_field_and_the_names() -> None:
    with pytest.raises(CampaignInvalid) as raised:
        campaigns.recipients_of(
            [{"to": "+33612345678", "values": {"name": "A"}}, {"to": "+33612345679"}], "Hi {{name}}", "FR"
        )
    assert raised.value.details == {
        "field": "recipients[1].values",
        "reason": "missing_values",
        "placeholders": ["name"],
    }


def test_recipients_are_normalised_and_take_their_own_text() -> None:
    found = campaigns.recipients_of(
        [
            {"to": "06 12 34 56 78", "values": {"n": "1"}},
            {"to": "+33612345679", "text": "Own {{x}}", "values": {"x": "y"}},
        ],
        "Code {{n}}",
        "FR",
    )
    assert found == [Recipient("+33612345678", "Code 1"), Recipient("+33612345679", "Own y")]


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ([], "recipients", "empty"),
        ([{"to": "+33612345678"}] * (campaigns.MAX_RECIPIENTS + 1), "recipients", "too_many"),
        ([{"to": "+33612345678"}, {"to": "12"}], "recipients[1].to", "invalid_phone"),
        ([{"to": "+33612345678"}, {"to": "+33 6 12 34 56 78"}], "recipients[1].to", "duplicate"),
        ([{"to": "+33612345678", "extra": 1}], "recipients[0]", "not_an_object"),
        ([{"to": "+33612345678", "values": {"a": 3}}], "recipients[0].values.a", "invalid"),
        ([{"to": "+33612345678", "text": ""}], "recipients[0].text", "invalid"),
    ],
)
def test_each_mistake_names_its_field(raw: object, field: str, reason: str) -> None:
    with pytest.raises(CampaignInvalid) as raised:
        campaigns.recipients_of(raw, "Hello", "FR")
    assert (raised.value.details["field"], raised.value.details["reason"]) == (field, reason)
    assert raised.value.status == 400


def test_no_text_anywhere_is_refused() -> None:
    with pytest.raises(CampaignInvalid) as raised:
        campaigns.recipients_of([{"to": "+33612345678"}], None, "FR")
    assert raised.value.details["field"] == "recipients[0].text"


def test_chunks_are_bounded_in_count_and_bytes_and_keep_the_order() -> None:
    small = [Recipient(f"+3361234{index:04d}", "Hi") for index in range(1234)]
    cut = campaigns.chunks(small)
    assert [len(chunk) for chunk in cut] == [500, 500, 234]
    assert [recipient for chunk in cut for recipient in chunk] == small
    large = [Recipient(f"+3361234{index:04d}", "é" * 1600) for index in range(300)]
    for chunk in campaigns.chunks(large):
        assert len(json.dumps([r.to_json() for r in chunk], ensure_ascii=False).encode()) <= campaigns.MAX_CHUNK_BYTES
    assert sum(len(chunk) for chunk in campaigns.chunks(large)) == 300


def test_pause_resume_cancel_are_idempotent_and_409_when_impossible() -> None:
    assert campaigns.change("running", "pause") == "paused"
    assert campaigns.change("paused", "pause") == "paused"
    assert campaigns.change("paused", "resume") == "running"
    assert campaigns.change("paused", "cancel") == "cancelled"
    assert campaigns.change("cancelled", "cancel") == "cancelled"
    for status, action in (("done", "pause"), ("cancelled", "resume"), ("done", "cancel")):
        with pytest.raises(CampaignNotChangeable) as raised:
            campaigns.change(status, action)
        assert raised.value.status == 409 and raised.value.details["status"] == status


def test_a_campaign_takes_only_a_share_of_what_live_traffic_left() -> None:
    assert campaigns.campaign_share(60, 0) == 30
    assert campaigns.campaign_share(60, 50) == 5
    assert campaigns.campaign_share(60, 59) == 1
    assert campaigns.campaign_share(60, 60) == 0


def test_eta_from_the_budget_share_alone() -> None:
    assert campaigns.eta_seconds(0, 1, 30, []) == 0
    assert campaigns.eta_seconds(30, 1, 30, []) == 0  # all in the first minute
    assert campaigns.eta_seconds(100, 1, 30, []) == 180  # 30, 30, 30 then 10 in the fourth minute


def test_eta_waits_for_a_full_window_to_reset() -> None:
    hour = WindowRoom(limit=50, seconds=3600, used=40, resets_in=1200)
    # 10 segments of room now (5 messages of 2), then the hour starts again in 20 minutes with 50 (25 messages)
    assert campaigns.eta_seconds(5, 2, 30, [hour]) == 0
    assert campaigns.eta_seconds(6, 2, 30, [hour]) == 1200
    assert campaigns.eta_seconds(31, 2, 30, [hour]) == 1200 + 3600


def test_eta_is_none_when_a_message_can_never_fit() -> None:
    assert campaigns.eta_seconds(1, 3, 30, [WindowRoom(limit=2, seconds=60, used=0, resets_in=60)]) is None
    assert campaigns.eta_seconds(1, 1, 0, []) is None
