"""Request models of the HTTP contract (docs/http-api.md). The Powertools resolver validates requests
against them and the OpenAPI document is generated from them. Types are strict: "true" is not a bool."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

Purpose = Literal["conversational", "transactional", "marketing"]
ConsentPurpose = Literal["marketing"]
NumberId = Annotated[
    StrictInt | Annotated[StrictStr, Field(min_length=1, max_length=18)],
    Field(description="Aircall's number_id of a configured number (an integer, or its digits as a string)."),
]
Source = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Scope = Literal["send", "read", "export", "contacts", "numbers", "admin"]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: StrictStr | StrictInt = Field(
        alias="from",
        description="The Aircall number: E.164 or Aircall's number_id. Must be configured.",
        examples=["+14155550100", 100001],
    )
    to: StrictStr = Field(
        description="The recipient, E.164 or national format of the sender's country.", examples=["+14155550123"]
    )
    text: StrictStr | None = Field(
        default=None,
        description="1-1600 characters (670 from a French number); optional only with media_urls.",
        examples=["Your appointment is confirmed for Tuesday 10:00."],
    )
    media_urls: list[StrictStr] = Field(default_factory=list, description="MMS: up to 10 https URLs.")
    purpose: Purpose = "conversational"
    on_limit: Literal["reject", "defer"] = "reject"
    not_after: AwareDatetime | None = Field(default=None, description="A deferred message expires after this.")
    send_at: AwareDatetime | None = Field(
        default=None,
        description="Send at this time (from now to 31 days ahead): answered 202 with status `scheduled`; the "
        "dispatcher sends it at its minute, or as soon after as the number's windows allow.",
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Stored and returned as is; at most 4 KB.")
    dry_run: StrictBool = False
    human_author: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Who typed the message, when a person did. It is kept in the archive, and it lets a French "
        "mobile line write outside the conversation window: French rules forbid automated messages, not people.",
    )


class MessagePatch(BaseModel):
    """PATCH /messages/{id}: a scheduled or deferred message's new text or time, checked as a new send would be."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr | None = Field(
        default=None, min_length=1, description="1-1600 characters (670 from a French number)."
    )
    send_at: AwareDatetime | None = Field(default=None, description="From now to 31 days ahead.")


class NumberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["proxy", "agent"] = Field(
        description="proxy: configured in Aircall, callbacks come to this gateway, the Aircall apps lose SMS on it; "
        "agent: sent in the agent conversation (visible in the Aircall apps)."
    )
    registration: Literal["approved", "pending", "none"] = "none"
    limits: dict[StrictStr, StrictInt] | None = Field(default=None, description="Per-window overrides, in segments.")


class PoolRequest(BaseModel):
    """PUT /pools/{id}: the numbers a send from "pool:<id>" chooses among (checked by `use_cases.pools`)."""

    model_config = ConfigDict(extra="forbid")

    number_ids: list[NumberId] = Field(
        max_length=1000,
        description="1-16 distinct configured numbers of one country (the US with Canada counts as one).",
    )


class OptOutRequest(BaseModel):
    """PUT /opt-outs/{phone}; the body is optional (no body: a company-wide opt-out recorded by the API)."""

    model_config = ConfigDict(extra="forbid")

    number_id: NumberId | None = Field(
        default=None, description="Opt out of this configured number only; absent: of every number."
    )
    source: Source = Field(default="api", description="Where the opt-out came from (audit), e.g. crm, support.")


class ConsentRequest(BaseModel):
    """PUT /consents/{phone}: the evidence of a consent to marketing messages, kept for audit."""

    model_config = ConfigDict(extra="forbid")

    number_id: NumberId | None = Field(
        default=None, description="The consent covers this configured number only; absent: every number."
    )
    purpose: ConsentPurpose
    source: Source = Field(description="Where the consent was captured, e.g. web_form, paper, call.")
    captured_at: AwareDatetime = Field(description="When the contact gave the consent (not in the future).")
    text: StrictStr = Field(min_length=1, max_length=2000, description="What the contact agreed to, as shown.")
    evidence_url: StrictStr | None = Field(
        default=None, max_length=2048, description="An https URL of the evidence (a form, a recording)."
    )

    @field_validator("evidence_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise ValueError("evidence_url must be an https URL")
        return url


class KeyRequest(BaseModel):
    """POST /api-keys: a new client key, with what it may do (`scopes`) and from which numbers (`number_ids`)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=64, description="What the key is for, e.g. crm, support-desk.")
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=6,
        description="send, read, export, contacts, numbers, admin (admin: every route, and /api-keys).",
    )
    number_ids: list[NumberId] | None = Field(
        default=None,
        max_length=100,
        description="The numbers the key may use and see; absent or null: every number.",
    )
