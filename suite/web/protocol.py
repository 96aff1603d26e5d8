"""Wire models of the web pages' own API (``/web/api``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WebModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationSummary(WebModel):
    id: str
    title: str
    model: str | None
    updated_at: datetime


class MessageIn(WebModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=200_000)
    # Citations, guardrail notices, usage and the model of an answer, as the page shows them.
    meta: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None


class MessageOut(WebModel):
    id: int
    position: int
    role: str
    content: str
    meta: dict[str, Any]


class ConversationDetail(ConversationSummary):
    messages: list[MessageOut]


class ConversationList(WebModel):
    data: list[ConversationSummary]


class NewConversation(WebModel):
    title: str = Field(default="", max_length=400)
    model: str | None = None


class Rename(WebModel):
    title: str = Field(min_length=1, max_length=400)


class AppendMessages(WebModel):
    messages: list[MessageIn] = Field(min_length=1, max_length=4)
    # Replace the turns from this position on (regenerate; edit and resend the last user turn).
    replace_from: int | None = Field(default=None, ge=0)


class AppendedMessages(WebModel):
    data: list[MessageOut]


class Feedback(WebModel):
    message_id: int
    rating: Literal[1, -1]
    comment: str | None = Field(default=None, max_length=2000)


class Deleted(WebModel):
    deleted: int


class CollectionChoices(WebModel):
    data: list[str]


class Passage(WebModel):
    collection: str
    document_id: str
    title: str
    source_uri: str
    page: int | None  # PDF pages
    section: str  # the heading path in Markdown and HTML
    text: str


class UsageToday(WebModel):
    """The signed-in user's model calls since midnight UTC (from the audit trail) and the daily token quota."""

    requests: int
    tokens: int
    quotas: bool  # quotas enforced at all
    tokens_per_day: int | None  # None: unlimited
    tokens_left: int | None
    requests_per_minute: int | None
