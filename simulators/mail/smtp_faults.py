"""Faults of the SMTP side, switched by ``POST /_control/mail/smtp-faults``.

    {"mode": "reject", "code": 451, "message": "...", "stage": "data", "times": n}
        answer the stage's command (``rcpt``: each RCPT TO, ``data``: the end of DATA) with
        ``code`` (400-599) and ``message`` instead of accepting; the message is not kept
    {"mode": "slow", "delay": 2.5, "stage": "data", "times": n}
        wait ``delay`` seconds before answering the stage's command, then accept as usual
    {"mode": "off"}
        back to normal

One fault is active at a time (a new one replaces it); ``times`` (absent: forever) counts the
commands it answers, after which it switches itself off.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, ValidationError

Stage = Literal["rcpt", "data"]


class SmtpFaultError(ValueError):
    """A fault description that cannot be applied."""


class SmtpFault(BaseModel):
    """One SMTP fault, as the control API takes and shows it (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["reject", "slow", "off"]
    code: Annotated[int, Field(ge=400, le=599)] = 451
    message: Annotated[str, Field(min_length=1, max_length=200)] = (
        "Requested action aborted: injected fault"
    )
    stage: Stage = "data"
    delay: NonNegativeFloat = 1.0
    times: PositiveInt | None = None

    @property
    def reply(self) -> str:
        """The SMTP reply line of a rejection."""
        return f"{self.code} {self.message}"


class SmtpFaults:
    """The active SMTP fault, if any."""

    def __init__(self) -> None:
        self.active: SmtpFault | None = None

    def set(self, spec: Any) -> SmtpFault | None:
        """Validate ``spec`` and make it the active fault (``mode: off`` clears).

        Raises:
            SmtpFaultError: for an unknown mode or field, or a value out of range.
        """
        try:
            fault = SmtpFault.model_validate(spec)
        except ValidationError as exc:
            raise SmtpFaultError(str(exc)) from None
        self.active = None if fault.mode == "off" else fault
        return self.active

    def take(self, stage: Stage) -> SmtpFault | None:
        """The fault to apply to this stage's command, using up one of its ``times``."""
        fault = self.active
        if fault is None or fault.stage != stage:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                self.active = None
        return fault

    def to_json(self) -> dict[str, Any] | None:
        """The active fault as the control API shows it."""
        return None if self.active is None else self.active.model_dump(mode="json")
