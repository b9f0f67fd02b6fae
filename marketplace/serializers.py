"""Serializer base classes shared by the apps' APIs."""

from __future__ import annotations

import copy

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, with its field introspection done once per class.

    DRF builds a ModelSerializer's fields from the model's metadata for every instance, which
    costs more than the rest of serializing one object. The built fields depend only on the
    class (its Meta and declared fields), so the first instance's are kept as a prototype and
    every instance gets a deep copy of it: fresh, unbound fields, exactly as DRF would build.
    A subclass whose fields depend on the instance or its context must not use this class."""

    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_fields_prototype")
        if prototype is None:
            prototype = super().get_fields()
            cls._fields_prototype = prototype
        return copy.deepcopy(prototype)
