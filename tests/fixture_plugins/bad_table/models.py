"""The model of the ``badtable`` fixture plugin: table ``greetings`` lacks the prefix."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from app.db import Model


class Greeting(Model):
    """A table named without the plugin's ``badtable_`` prefix."""

    __tablename__ = "greetings"

    id: Mapped[int] = mapped_column(primary_key=True)
