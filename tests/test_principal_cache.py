"""The cache of resolved tokens never keeps what a revocation dropped."""

from __future__ import annotations

from dispatch.auth.cache import PrincipalCache
from dispatch.auth.principal import Principal
from dispatch.models.enums import Role


def _phone(vehicle_id: int) -> Principal:
    return Principal(role=Role.DRIVER, organisation_id=1, vehicle_id=vehicle_id)


def test_a_lookup_that_began_before_a_revocation_is_not_cached() -> None:
    cache = PrincipalCache()
    seen = cache.generation  # the lookup starts; the token is still valid in the database
    cache.forget(device_of=7)  # meanwhile the revocation is handled
    cache.put("dvt_a", _phone(7), seen=seen)  # the lookup ends with the old answer
    assert cache.get("dvt_a") is None


def test_a_lookup_with_no_revocation_meanwhile_is_cached() -> None:
    cache = PrincipalCache()
    seen = cache.generation
    cache.put("dvt_a", _phone(7), seen=seen)
    assert cache.get("dvt_a") == _phone(7)
    cache.forget(device_of=7)
    assert cache.get("dvt_a") is None
