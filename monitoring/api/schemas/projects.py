"""The project and scopes of the caller's key, and who receives the project's daily digest."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from metamon.monitoring.notifications.recipients import MAX_RECIPIENTS, checked_address

Address = Annotated[str, Field(max_length=254), AfterValidator(checked_address)]


class CurrentProject(BaseModel):
    project: str
    scopes: list[str]
    digest_email_to: list[str] = Field(description="Who receives the project's daily digest.")
    digest_email_to_is_default: bool = Field(
        description="True when the project names nobody and the server's METAMON_DIGEST_EMAIL_TO applies."
    )


class DigestRecipients(BaseModel):
    email_to: list[Address] | None = Field(
        max_length=MAX_RECIPIENTS,
        description="Addresses (user@domain) for this project's digest; null: back to the server's default.",
    )
