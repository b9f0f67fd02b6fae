from django.urls import include, path
from rest_framework.routers import SimpleRouter

from insights import api

router = SimpleRouter()
router.register("insights", api.ReleaseViewSet, basename="insight")

urlpatterns = [path("", include(router.urls))]
