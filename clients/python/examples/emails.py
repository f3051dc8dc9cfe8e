"""The "emails" job type, shared by the example worker and producer."""

from dataclasses import dataclass

from baton_client import JobType


@dataclass
class SendEmail:
    to: str


@dataclass
class Delivery:
    delivered: bool


def check_address(email: SendEmail) -> None:
    if "@" not in email.to:
        raise ValueError(f"not an email address: {email.to!r}")


# The same JSON the TypeScript example producer sends: {"to": "..."}.
emails = JobType.json("emails", SendEmail, Delivery, validate=check_address)
