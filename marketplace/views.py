from datetime import timedelta

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from marketplace.models import WorkerHeartbeat


def home(request):
    return render(request, "home.html")


def health(request):
    """Liveness for load balancers and `make run`: the database answers; workers seen lately."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    recent = WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - timedelta(minutes=5))
    return JsonResponse({"database": "ok", "workers": list(recent.values_list("hostname", flat=True))})
