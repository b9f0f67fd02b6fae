"""marketplace.serializers.ModelSerializer builds fields once per class and must serialize
exactly as DRF's own ModelSerializer does, with each instance's fields its own."""

import pytest
from rest_framework import serializers

from catalog.api import DatasetDetailSerializer, FieldSerializer, VersionSerializer
from tests import factories


def drf_twin(cls):
    """The same serializer on DRF's ModelSerializer, which builds its fields per instance."""
    namespace = {k: v for k, v in vars(cls).items() if k not in ("_fields_prototypes", "_declared_fields")}
    namespace.update(cls._declared_fields)
    return type(f"Drf{cls.__name__}", (serializers.ModelSerializer,), namespace)


@pytest.mark.django_db
@pytest.mark.parametrize("full_profiles", [False, True])
def test_output_is_exactly_drfs(center, full_profiles):
    dataset = factories.published_dataset(center, title="카드 결제", keywords=["카드"])
    version = dataset.current_version
    context = {"full_profiles": full_profiles}
    for cls, obj in [(DatasetDetailSerializer, dataset), (VersionSerializer, version)]:
        assert cls(obj, context=context).data == drf_twin(cls)(obj, context=context).data
    for field in version.fields.all():
        assert (
            FieldSerializer(field, context=context).data
            == drf_twin(FieldSerializer)(field, context=context).data
        )


@pytest.mark.django_db
def test_each_instance_has_its_own_bound_fields(center):
    dataset = factories.published_dataset(center)
    a, b = DatasetDetailSerializer(dataset), DatasetDetailSerializer(dataset)
    assert a.fields["center"] is not b.fields["center"]
    assert a.fields["title"].parent is a and b.fields["title"].parent is b
    nested_a = a.fields["current_version"].fields["fields"]
    nested_b = b.fields["current_version"].fields["fields"]
    assert nested_a.child is not nested_b.child and nested_a.child.parent is nested_a


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_api_model_serializer_builds_drfs_fields():
    """Each API serializer on the shared base gets the same fields DRF would build for it."""
    import accounts.api  # noqa: F401 - imported for their serializer classes
    import catalog.api  # noqa: F401
    import transactions.api.extracts
    import transactions.api.serializers  # noqa: F401
    from marketplace.serializers import ModelSerializer

    classes = [
        c
        for c in _all_subclasses(ModelSerializer)
        if c.__module__.endswith("api") or c.__module__.startswith("transactions.api.")
    ]
    assert {c.__module__ for c in classes} >= {
        "accounts.api",
        "catalog.api",
        "transactions.api.serializers",
        "transactions.api.extracts",
    }

    def shape(serializer):
        return {
            name: (type(f), f.source, f.read_only, sorted(f._kwargs))
            for name, f in serializer.get_fields().items()
        }

    from django.utils import translation

    for language in ("ko", "en", "ko"):  # what DRF builds differs by language (labels)
        with translation.override(language):
            for cls in classes:
                assert shape(cls()) == shape(drf_twin(cls)()), (language, cls.__name__)
                assert shape(cls()) == shape(cls()), cls.__name__  # and again from the prototype
