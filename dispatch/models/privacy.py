"""Which columns hold personal data, declared on the column itself.

Why on the column: the audit log (which must never keep a personal value, PDPA / Vietnam
Decree 13/2023) and the erasure of a patient (which must clear exactly those values) both
read the same declaration, so a new column is handled the day it is added.
``tests/test_privacy.py`` fails when a column whose name or type looks personal (a name,
a phone, an address, free text, coordinates, JSON …) carries no declaration either way.

* ``PERSONAL``: identifies or describes a person (patient, caller, staff member) or is
  free text that may (a dispatcher types whatever the caller says). Never copied into the
  audit log (only the field's name); cleared or coarsened when a patient is erased.
* ``NOT_PERSONAL``: looks like it could be, but is operational (a hospital's address, a
  unit's position, a generated reason) and stays readable in the audit log.
* ``SECRET``: a credential's hash; never in the audit log, not even by name.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from sqlalchemy import Table
from sqlalchemy.sql.elements import ColumnElement

PERSONAL: Final[dict[str, Any]] = {"personal": True}
NOT_PERSONAL: Final[dict[str, Any]] = {"personal": False}
SECRET: Final[dict[str, Any]] = {"personal": False, "secret": True}


def is_personal(column: ColumnElement[Any]) -> bool:
    return bool(column.info.get("personal", False))


def is_secret(column: ColumnElement[Any]) -> bool:
    return bool(column.info.get("secret", False))


def is_declared(column: ColumnElement[Any]) -> bool:
    return "personal" in column.info


@cache
def personal_columns(table: Table) -> frozenset[str]:
    """Names of the columns of ``table`` declared personal."""
    return frozenset(c.name for c in table.columns if is_personal(c))


@cache
def secret_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if is_secret(c))
