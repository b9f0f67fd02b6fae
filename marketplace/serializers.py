"""Serializer base classes shared by the apps' APIs."""

from __future__ import annotations

import copy

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, with its field introspection done once per class.

    DRF builds a ModelSerializer's fields from the model's metadata for every instance, which
    costs more than the rest of serializing one object. The built fields depend only on the
    class (its Meta and declared fields), so the first instance's are kept as a prototype and
    every instance gets fresh, unbound copies of them (`_fresh`), as DRF would build them.
    A subclass whose fields depend on the instance or its context must not use this class."""

    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_fields_prototype")
        if prototype is None:
            prototype = super().get_fields()
            cls._fields_prototype = prototype
        return {name: _fresh(field) for name, field in prototype.items()}


def _fresh(field):
    """A new, unbound instance of a prototype field. A plain field is made again from the
    arguments it was made with (its constructor copies what it keeps, so they are shared safely);
    a nested serializer is deep-copied, as DRF does, so that its child is its own."""
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    return field.__class__(*field._args, **field._kwargs)
