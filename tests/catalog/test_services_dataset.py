import pytest
from django.utils import translation

from catalog import services
from catalog.models import Dataset, DatasetRegion
from marketplace import errors
from marketplace.models import AuditEvent
from tests import factories


@pytest.mark.django_db
def test_curator_creates_a_draft_owned_by_the_center(curator, center, dataset):
    assert dataset.status == Dataset.Status.DRAFT
    assert dataset.slug == "gyeonggi-local-currency-payments"
    assert dataset.center == center
    assert curator.has_perm("catalog.change_dataset", dataset)  # guardian, through the center's group
    assert set(DatasetRegion.objects.filter(dataset=dataset).values_list("code", flat=True)) == {
        "41110",
        "41130",
    }
    assert AuditEvent.objects.filter(verb="catalog.dataset.created", target_id=str(dataset.pk)).exists()


@pytest.mark.django_db
def test_korean_only_title_gets_a_korean_slug_and_duplicates_are_numbered(curator, center):
    a = services.dataset_create(actor=curator, center=center, title="기업 현황")
    b = services.dataset_create(actor=curator, center=center, title="기업 현황")
    assert (a.slug, b.slug) == ("기업-현황", "기업-현황-2")


@pytest.mark.django_db
def test_unverified_center_cannot_publish_data():
    pending = factories.OrganizationFactory(kind="center", buyer_category="", verification="pending")
    curator = factories.member(pending, "curator")
    with translation.override("en"), pytest.raises(errors.PermissionDenied) as exc:
        services.dataset_create(actor=curator, center=pending, title="시험")
    assert "not verified" in exc.value.message
    assert not Dataset.objects.exists()


@pytest.mark.django_db
def test_reviewers_and_buyers_cannot_create(center, reviewer, buyer):
    with pytest.raises(errors.PermissionDenied):
        services.dataset_create(actor=reviewer, center=center, title="x")
    analyst = factories.member(buyer, "analyst")
    with pytest.raises(errors.PermissionDenied):
        services.dataset_create(actor=analyst, center=center, title="x")


@pytest.mark.django_db
def test_invalid_values_are_explained_per_field(curator, center):
    with pytest.raises(errors.ApplicationError) as exc:
        services.dataset_create(
            actor=curator,
            center=center,
            title=" ",
            regions=["41110", "11110"],
            theme="weather",
        )
    assert set(exc.value.errors) == {"title", "regions", "theme"}
    assert "11110" in exc.value.errors["regions"][0]


@pytest.mark.django_db
def test_other_centers_cannot_see_drafts_or_change_published(dataset, curator):
    other = factories.member(
        factories.OrganizationFactory(kind="center", buyer_category=""), "curator", "manager"
    )
    with pytest.raises(errors.NotFound):
        services.dataset_update(actor=other, dataset=dataset, title="가로채기")
    published = factories.published_dataset(center=dataset.center)
    with pytest.raises(errors.PermissionDenied):
        services.dataset_update(actor=other, dataset=published, title="가로채기")
    updated = services.dataset_update(actor=curator, dataset=published, title="새 제목", regions=["41590"])
    assert updated.title == "새 제목"
    assert list(DatasetRegion.objects.filter(dataset=published).values_list("code", flat=True)) == ["41590"]


@pytest.mark.django_db
def test_deleting_a_dataset_removes_its_object_permissions(dataset):
    from guardian.models import GroupObjectPermission

    assert GroupObjectPermission.objects.filter(object_pk=str(dataset.pk)).count() == 2
    dataset.delete()
    assert GroupObjectPermission.objects.filter(object_pk=str(dataset.pk)).count() == 0


@pytest.mark.django_db
def test_a_recorded_view_reads_back_with_its_time_and_organization(center, buyer):
    from datetime import timedelta

    from django.contrib.auth.models import AnonymousUser
    from django.utils import timezone

    from catalog.models import DatasetView

    dataset = factories.published_dataset(center)
    analyst = factories.member(buyer, "analyst")
    services.dataset_record_view(actor=AnonymousUser(), dataset=dataset)
    services.dataset_record_view(actor=analyst, dataset=dataset)
    views = list(DatasetView.objects.filter(dataset=dataset).order_by("pk"))
    assert [v.organization_id for v in views] == [None, buyer.pk]
    for view in views:
        assert timezone.is_aware(view.viewed_at)
        assert abs(timezone.now() - view.viewed_at) < timedelta(seconds=30)
    month = timezone.localtime(views[0].viewed_at).month
    assert DatasetView.objects.filter(dataset=dataset, viewed_at__month=month).count() == 2
