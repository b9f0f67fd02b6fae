"""What the hostile-input tests share: the corpus, a published dataset with an offer to aim at,
the write endpoints, and a snapshot of every table row count, audit verb and stored file, so a
test can say exactly what an input changed."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Invitation, Membership, Organization, User
from catalog import services as catalog_services
from catalog.models import Dataset, DatasetVersion, Field, LicenseTerms, Offer
from marketplace.models import AuditEvent
from tests import factories
from transactions.models import (
    AccessRequest,
    Extract,
    Invoice,
    License,
    Notification,
    RequestEvent,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "hostile"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))["files"]

GOOD_CSV = "지역,일자,금액\n수원시,2024-01-05,1000\n성남시,2024-02-01,2000\n".encode()

COUNTED_MODELS = [
    User,
    Organization,
    Membership,
    Invitation,  # (API tokens are not counted: logging in within a test makes them)
    Dataset,
    DatasetVersion,
    Field,
    Offer,
    LicenseTerms,
    AccessRequest,
    RequestEvent,
    License,
    Invoice,
    Extract,
    Notification,
]


@pytest.fixture
def own_media_root(settings, tmp_path):
    """A media directory of this test's own: stored names repeat across tests (the database is
    rolled back, so every test's first dataset has the same id), and the comparison of files
    before and after must see a file that is overwritten, not only one that is added."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(media)}},
        }
    return media


def corpus_entries(*deliveries: str) -> list:
    return [
        pytest.param(name, spec, id=name) for name, spec in MANIFEST.items() if spec["delivery"] in deliveries
    ]


def files_under(root) -> set[str]:
    root = str(root)
    return {os.path.relpath(os.path.join(d, f), root) for d, _s, fs in os.walk(root) for f in fs}


def media_files() -> set[str]:
    return files_under(settings.MEDIA_ROOT)


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    audit: Counter
    media: set[str]
    scratch: set[str]  # ingestion work directories and DuckDB spill files

    @classmethod
    def take(cls) -> Snapshot:
        return cls(
            rows={m._meta.label: m.objects.count() for m in COUNTED_MODELS},
            audit=Counter(AuditEvent.objects.values_list("verb", flat=True)),
            media=media_files(),
            scratch=files_under(settings.WORK_DIR) | files_under(settings.DUCKDB_TEMP_DIR),
        )

    def changes_since(self, before: Snapshot) -> dict:
        """Only what differs: row-count deltas, audit verbs added, files added or removed."""
        rows = {k: self.rows[k] - before.rows[k] for k in self.rows if self.rows[k] != before.rows[k]}
        return {
            "rows": rows,
            "audit": dict(self.audit - before.audit),
            "audit_removed": dict(before.audit - self.audit),
            "media_added": self.media - before.media,
            "media_removed": before.media - self.media,
            "scratch_added": self.scratch - before.scratch,
        }


def unchanged() -> dict:
    return {
        "rows": {},
        "audit": {},
        "audit_removed": {},
        "media_added": set(),
        "media_removed": set(),
        "scratch_added": set(),
    }


def upload_url(dataset) -> str:
    return f"/api/v1/datasets/{dataset.slug}/versions/"


def post_file(client, dataset, name: str, content: bytes):
    return client.post(upload_url(dataset), {"file": SimpleUploadedFile(name, content)}, format="multipart")


@dataclass
class Scene:
    """A center (curator + manager) with a published dataset and an offer; a buyer analyst."""

    center: Organization
    curator: User
    analyst: User
    dataset: Dataset
    good_version: DatasetVersion
    offer: Offer

    def endpoints(self) -> dict[str, tuple[str, str, User | None]]:
        """The main write endpoints: name → (method, path, caller; None is anonymous)."""
        return {
            "signup": ("post", "/api/v1/auth/signup/", None),
            "dataset_create": ("post", "/api/v1/datasets/", self.curator),
            "dataset_update": ("patch", f"/api/v1/datasets/{self.dataset.slug}/", self.curator),
            "offer_create": ("post", f"/api/v1/datasets/{self.dataset.slug}/offers/", self.curator),
            "offer_update": ("patch", f"/api/v1/offers/{self.offer.pk}/", self.curator),
            "request_create": ("post", "/api/v1/requests/", self.analyst),
            "member_invite": ("post", f"/api/v1/organizations/{self.center.pk}/members/", self.curator),
            "token_create": ("post", "/api/v1/auth/token/", None),
        }


ENDPOINT_NAMES = [
    "signup",
    "dataset_create",
    "dataset_update",
    "offer_create",
    "offer_update",
    "request_create",
    "member_invite",
    "token_create",
]


@pytest.fixture
def scene(center, buyer, login, django_capture_on_commit_callbacks, own_media_root) -> Scene:
    """Built through the real API and services: the good version is ingested and published, so
    a test can check that "the current version is unchanged"."""
    curator = factories.member(center, "curator", "manager")
    dataset = catalog_services.dataset_create(actor=curator, center=center, title="악성 입력 시험")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(login(curator), dataset, "good.csv", GOOD_CSV)
    assert response.status_code == 202, response.content
    good = DatasetVersion.objects.get(pk=response.json()["id"])
    assert good.status == DatasetVersion.Status.READY, good.error
    catalog_services.version_publish(actor=curator, version=good)
    dataset.refresh_from_db()
    offer = catalog_services.offer_create(
        actor=curator,
        dataset=dataset,
        terms="명시한 목적으로만 이용합니다.",
        name="기본 제공",
        kind=Offer.Kind.RECORDS,
        fields=["지역", "일자", "금액"],
        region_field="지역",
        date_field="일자",
        approval=Offer.Approval.CENTER,
    )
    dataset.refresh_from_db()
    return Scene(
        center=center,
        curator=curator,
        analyst=factories.member(buyer, "analyst"),
        dataset=dataset,
        good_version=good,
        offer=offer,
    )


@pytest.fixture
def light_scene(center, buyer, own_media_root) -> Scene:
    """The same cast and shape from factories, without ingesting a file: for tests that only
    send request bodies (a tenth of the setup time)."""
    dataset = factories.published_dataset(
        center,
        title="악성 입력 시험",
        fields=[("지역", "string", "public"), ("일자", "date", "public"), ("금액", "integer", "public")],
    )
    offer = factories.OfferFactory(
        dataset=dataset, fields=["지역", "일자", "금액"], region_field="지역", date_field="일자"
    )
    return Scene(
        center=center,
        curator=factories.member(center, "curator", "manager"),
        analyst=factories.member(buyer, "analyst"),
        dataset=dataset,
        good_version=dataset.current_version,
        offer=offer,
    )


@pytest.fixture
def as_caller(login, api):
    """`as_caller(user)`: an API client for `user`, or anonymous for None (one login each)."""
    clients: dict = {}

    def _client(user):
        if user is None:
            return api
        if user.pk not in clients:
            clients[user.pk] = login(user)
        return clients[user.pk]

    return _client
