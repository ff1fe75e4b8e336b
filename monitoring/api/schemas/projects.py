"""The project and scopes of the caller's key."""

from pydantic import BaseModel


class CurrentProject(BaseModel):
    project: str
    scopes: list[str]
