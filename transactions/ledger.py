"""The disclosure ledger's check: would a new aggregate request, together with the tables the
buyer organization already holds of the same dataset version, give away a small group?

What the organization holds: every ledger entry on the dataset's published version, and every
active license of the organization for an aggregate offer of the dataset (it receives the
version too, now or with its next extract). Each pair (new, held) is checked by the privacy
engine (`catalog.privacy.linked_disclosures`): cells one table suppresses that the other gives
back by summing its published cells, and date granularities that do not nest.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from catalog import privacy, released_cache
from catalog import selectors as catalog_selectors
from catalog.models import DatasetVersion, Offer
from catalog.policy import OfferPolicy
from marketplace import errors
from marketplace.duckdb import connect
from transactions.models import DisclosureRelease, License


def held_tables(organization: Organization, version: DatasetVersion) -> list[tuple[str, OfferPolicy, dict]]:
    """(label, policy, scope) of every aggregate table `organization` holds of `version`."""
    held: dict[tuple, tuple[str, OfferPolicy, dict]] = {}

    def add(license_id: int, offer_name: str, snapshot: dict, scope: dict) -> None:
        policy = OfferPolicy.from_snapshot(snapshot)
        if not policy.is_aggregate:
            return
        key = (repr(policy.to_snapshot()), repr(sorted((scope or {}).items())))
        label = _("“%(offer)s” (license #%(license)s)") % {"offer": offer_name, "license": license_id}
        held.setdefault(key, (label, policy, scope or {}))

    for entry in DisclosureRelease.objects.filter(organization=organization, version=version).select_related(
        "license"
    ):
        add(entry.license_id, entry.license.offer_snapshot.get("name", ""), entry.policy, entry.scope)
    active = License.objects.filter(
        organization=organization,
        dataset_id=version.dataset_id,
        state=License.State.ACTIVE,
        valid_until__gt=timezone.now(),
    )
    for license in active:
        add(license.pk, license.offer_snapshot.get("name", ""), license.offer_snapshot, license.scope)
    return list(held.values())


def ledger_check(
    *, organization: Organization, offer: Offer, scope: dict, policy: OfferPolicy | None = None
) -> None:
    """Refuse (ApplicationError on `scope`) an aggregate `scope` of `offer` that, combined with
    what `organization` holds of the published version, would isolate a group below k."""
    policy = policy or offer.policy
    version = offer.dataset.current_version
    if not policy.is_aggregate or version is None or not version.parquet:
        return
    held = held_tables(organization, version)
    if not held:
        return
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]
    problems = []
    files = catalog_selectors.version_files(version)
    con = connect()
    try:
        for label, held_policy, held_scope in held:
            try:
                cells = privacy.linked_disclosures(
                    con,
                    parquet=files,
                    schema=schema,
                    noise_seed=version.cell_key_seed,
                    new=(policy, scope),
                    held=(held_policy, held_scope),
                    build=released_cache.builder(files),  # the same tables as the extracts'
                )
            except privacy.LinkedDisclosure:
                problems.append(
                    _(
                        "Your organization holds %(held)s, whose periods do not nest with this offer's; "
                        "together they would isolate a few days' figures."
                    )
                    % {"held": label}
                )
                continue
            except privacy.PlanError:
                continue  # a held table the published version no longer supports gives nothing away
            if cells:
                problems.append(
                    _(
                        "Together with %(held)s, which your organization holds, this scope would give "
                        "back %(cells)s cell(s) that hold fewer than the minimum number of people or "
                        "businesses."
                    )
                    % {"held": label, "cells": cells}
                )
    finally:
        con.close()
    if problems:
        raise errors.ApplicationError(
            _(
                "This request would reveal small groups when combined with data your organization "
                "already holds; narrow it to other regions or periods, or choose another offer."
            ),
            errors={"scope": problems},
        )
