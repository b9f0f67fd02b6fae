"""The disclosure ledger: recording the aggregate tables a buyer organization receives."""

from __future__ import annotations

from catalog.models import DatasetVersion
from catalog.policy import OfferPolicy
from marketplace.authz import authorize
from transactions import permissions
from transactions.models import DisclosureRelease, License


def disclosure_release_record(
    *, actor, license: License, version: DatasetVersion
) -> DisclosureRelease | None:
    """Record that the license's organization holds the license's aggregate table of `version`
    (nothing for record-level licenses). Idempotent: once per license and version. Platform
    only (SYSTEM): called when a license is issued and when an extract is built."""
    authorize(permissions.disclosure_release_record, actor, license)
    if not OfferPolicy.from_snapshot(license.offer_snapshot).is_aggregate:
        return None
    release, _created = DisclosureRelease.objects.get_or_create(
        license=license,
        version=version,
        defaults={
            "organization_id": license.organization_id,
            "dataset_id": license.dataset_id,
            "policy": license.offer_snapshot,
            "scope": license.scope,
        },
    )
    return release
