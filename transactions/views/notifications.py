"""Everyone's notifications."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from marketplace.views import paginate, web_errors
from transactions import selectors, services
from transactions.notifications import render as render_notification


def _notification_url(notification) -> str:
    if notification.license_id:
        return reverse("license-detail", args=[notification.license_id])
    if notification.access_request_id:
        return reverse("request-detail", args=[notification.access_request_id])
    return notification.url  # about an offer: its page (transactions.notifications.notify_offer)


@login_required
def notification_list(request):
    page, page_query = paginate(
        request, selectors.notifications_of(request.user).order_by("-created_at", "-id")
    )
    for notification in page:
        try:
            notification.title_text, notification.body_text = render_notification(
                notification.verb, notification.params
            )
        except KeyError:
            notification.title_text, notification.body_text = notification.title, notification.body
        notification.link = _notification_url(notification)
    return render(request, "transactions/notifications.html", {"page": page, "page_query": page_query})


@login_required
@require_POST
@web_errors
def notification_read(request, pk):
    notification = selectors.notifications_of(request.user).filter(pk=pk).first()
    if notification is None:
        raise Http404
    services.notification_mark_read(actor=request.user, notification=notification)
    target = _notification_url(notification)
    return redirect(target if request.POST.get("open") and target else "notifications")


@login_required
@require_POST
def notification_read_all(request):
    services.notification_mark_all_read(actor=request.user)
    messages.success(request, _("Every notification is marked read."))
    return redirect("notifications")
