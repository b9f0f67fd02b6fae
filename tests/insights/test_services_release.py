"""Publishing, refreshing and retiring open statistics releases (insights.services)."""

import pytest

from catalog import services as catalog
from insights import services
from insights.models import Cell, Edition, Release
from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.models import AuditEvent
from tests import factories
from tests.insights.conftest import INDUSTRY, REGION, publish

pytestmark = pytest.mark.django_db


def test_publishing_materializes_every_cell_of_the_table(release):
    edition = release.current
    assert edition.status == Edition.Status.READY and edition.number == 1
    cells = list(Cell.objects.filter(edition=edition))
    # 3 regions × 6 months (180 days from 2024-01-01): every cell listed, shown or suppressed
    assert len(cells) == edition.cell_count == 18
    assert {c.dims["month"] for c in cells} == {f"2024-0{m}" for m in range(1, 7)}
    assert all(c.values is None for c in cells if c.suppressed)
    assert all(set(c.values) == {"records", "sum_amount"} for c in cells if not c.suppressed)
    assert edition.period == "2024-01-01/2024-06-28"
    assert edition.engine == "catalog.privacy.protected_cells"
    assert all(c.noisy for c in cells if not c.suppressed)
    assert AuditEvent.objects.filter(verb="insights.release.published", target_id=str(release.pk)).exists()
    assert AuditEvent.objects.filter(verb="insights.release.refreshed", target_id=str(release.pk)).exists()


def test_cells_failing_k_are_suppressed(cards, django_capture_on_commit_callbacks):
    # 17 distinct cards in the data: with k = 18 no cell can be shown
    with django_capture_on_commit_callbacks(execute=True):
        release = publish(cards, k=18)
    release.refresh_from_db()
    assert release.current.cell_count == 18
    assert release.current.suppressed_count == 18
    assert not Cell.objects.filter(edition=release.current, suppressed=False).exists()


def test_a_buyer_cannot_publish_and_drafts_stay_invisible(center, buyer, cards):
    analyst = factories.member(buyer, "analyst")
    with pytest.raises(errors.PermissionDenied):
        services.release_publish(
            actor=analyst,
            dataset=cards,
            slug="mine",
            title="x",
            dimensions=[REGION],
            measures=[],
            subject_field="card_id",
        )
    draft = catalog.dataset_create(actor=SYSTEM, center=center, title="초안")
    with pytest.raises(errors.NotFound):
        services.release_publish(
            actor=analyst,
            dataset=draft,
            slug="mine",
            title="x",
            dimensions=[REGION],
            measures=[],
            subject_field="card_id",
        )
    assert not Release.objects.exists()


def test_a_curator_publishes_for_their_center(curator, cards, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        release = services.release_publish(
            actor=curator,
            dataset=cards,
            slug="industries",
            title="업종별",
            dimensions=[INDUSTRY],
            measures=[{"field": "amount", "agg": "sum"}],
            subject_field="card_id",
        )
    release.refresh_from_db()
    assert release.created_by == curator and release.current is not None


@pytest.mark.parametrize(
    ("dimensions", "subject", "problem"),
    [
        ([{"name": "card", "field": "card_id"}], "card_id", "cannot be a dimension"),
        ([{"name": "name", "field": "holder_name"}], "card_id", "cannot be a dimension"),
        ([{"name": "m", "field": "sigungu_code", "transform": "month"}], "card_id", "does not apply"),
        ([REGION], "", "needs a subject field"),
        ([{"name": "x", "field": "no_such_column"}], "card_id", "is not in this version"),
    ],
)
def test_definitions_the_privacy_rules_refuse(cards, dimensions, subject, problem):
    with pytest.raises(errors.ApplicationError) as raised:
        services.release_publish(
            actor=SYSTEM,
            dataset=cards,
            slug="bad",
            title="x",
            dimensions=dimensions,
            measures=[],
            subject_field=subject,
        )
    assert problem in " ".join(raised.value.errors["dimensions"])
    assert not Release.objects.exists()


def test_publishing_a_new_version_refreshes_the_release_through_the_hook(
    release, cards, django_capture_on_commit_callbacks
):
    version = factories.ready_version(cards)
    with django_capture_on_commit_callbacks(execute=True):
        catalog.version_publish(actor=SYSTEM, version=version)
    release.refresh_from_db()
    assert release.current.number == 2
    assert release.current.source_version_id == version.pk
    # cells of both editions are kept; the API and pages read the current one
    assert Cell.objects.filter(edition__release=release).count() == 36


def test_a_repeated_delivery_does_not_build_twice(release):
    from insights.tasks import refresh_releases_for_version

    version_id = release.current.source_version_id
    refresh_releases_for_version(version_id)
    refresh_releases_for_version(version_id)
    assert release.editions.count() == 1


def test_a_definition_that_no_longer_fits_keeps_the_current_edition(release, cards):
    version = factories.ready_version(cards)
    version.fields.filter(name="merchant_id").delete()
    catalog.version_publish(actor=SYSTEM, version=version)
    edition = services.release_refresh(actor=SYSTEM, release=release)
    release.refresh_from_db()
    assert edition.status == Edition.Status.FAILED and "merchant_id" in edition.error
    assert release.current.number == 1
    assert AuditEvent.objects.filter(verb="insights.release.refresh_failed").exists()


def test_retiring_hides_the_release_and_is_idempotent(release, curator):
    services.release_retire(actor=curator, release=release)
    services.release_retire(actor=curator, release=release)
    release.refresh_from_db()
    assert release.status == Release.Status.RETIRED and release.feature == ""
    assert AuditEvent.objects.filter(verb="insights.release.retired").count() == 1
    with pytest.raises(errors.InvalidState):
        services.release_refresh(actor=SYSTEM, release=release)


def test_one_live_release_per_view(release, cards):
    with pytest.raises(errors.ApplicationError) as raised:
        publish(cards, slug="another")
    assert "feature" in raised.value.errors
