"""Request models of the HTTP contract (reference/http-api.md). The Powertools resolver validates requests
against them and the OpenAPI document is generated from them. Types are strict: "true" is not a bool."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Purpose = Literal["conversational", "transactional", "marketing"]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: StrictStr | StrictInt = Field(
        alias="from", description="The Aircall number: E.164 or Aircall's number_id. Must be configured."
    )
    to: StrictStr = Field(description="The recipient, E.164 or national format of the sender's country.")
    text: StrictStr | None = Field(default=None, description="1-1600 characters; optional only with media_urls.")
    media_urls: list[StrictStr] = Field(default_factory=list, description="MMS: up to 10 https URLs.")
    purpose: Purpose = "conversational"
    on_limit: Literal["reject", "defer"] = "reject"
    not_after: AwareDatetime | None = Field(default=None, description="A deferred message expires after this.")
    metadata: dict[str, Any] | None = Field(default=None, description="Stored and returned as is; at most 4 KB.")
    dry_run: StrictBool = False
    human_author: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Who typed the message, when a person did. It is kept in the archive, and it lets a French "
        "mobile line write outside the conversation window: French rules forbid automated messages, not people.",
    )


class NumberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["proxy", "agent"] = Field(
        description="proxy: configured in Aircall, callbacks come to this gateway, the Aircall apps lose SMS on it; "
        "agent: sent in the agent conversation (visible in the Aircall apps)."
    )
    registration: Literal["approved", "pending", "none"] = "none"
    limits: dict[StrictStr, StrictInt] | None = Field(default=None, description="Per-window overrides, in segments.")
