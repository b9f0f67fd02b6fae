"""Object permissions die with their objects (guardian stores them by generic key, which no
foreign key cascades)."""

from django.contrib.contenttypes.models import ContentType
from guardian.models import GroupObjectPermission, UserObjectPermission


def remove_object_permissions(sender, instance, **kwargs) -> None:
    content_type = ContentType.objects.get_for_model(instance)
    for model in (GroupObjectPermission, UserObjectPermission):
        model.objects.filter(content_type=content_type, object_pk=str(instance.pk)).delete()
