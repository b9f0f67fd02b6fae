"""Serializer base classes shared by the apps' APIs."""

from __future__ import annotations

import copy

from django.utils.translation import get_language
from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, with its field introspection done once per class.

    DRF builds a ModelSerializer's fields from the model's metadata for every instance, which
    costs more than the rest of serializing one object. The built fields depend only on the
    class (its Meta and declared fields) and the language, so the first instance's in each
    language are kept as a prototype and every instance gets fresh, unbound copies of them
    (`_fresh`), as DRF would build them.
    A subclass whose fields depend on the instance or its context must not use this class."""

    def get_fields(self):
        # Per language too: DRF gives a field a label only where the model's translated
        # verbose name differs from the field's name, so what it builds depends on the language.
        prototypes = type(self).__dict__.get("_fields_prototypes")
        if prototypes is None:
            prototypes = type(self)._fields_prototypes = {}
        language = get_language()
        prototype = prototypes.get(language)
        if prototype is None:
            prototype = prototypes[language] = super().get_fields()
        return {name: _fresh(field) for name, field in prototype.items()}


def _fresh(field):
    """A new, unbound instance of a prototype field. A plain field is made again from the
    arguments it was made with (its constructor copies what it keeps, so they are shared safely);
    a nested serializer is deep-copied, as DRF does, so that its child is its own."""
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    return field.__class__(*field._args, **field._kwargs)
