"""Every write to transactions: one function per operation, each checking its rule in
`transactions.permissions` (STYLE.md). Split by entity, as pretix splits base/services."""

from transactions.services.extracts import (
    extract_build,
    extract_download,
    extract_download_link,
    extract_fail,
    extract_request,
    extracts_deliver_version,
    extracts_purge_files,
    extracts_requeue_stuck,
    license_trace_leak,
)
from transactions.services.invoices import invoice_issue, invoice_mark_paid, invoice_void
from transactions.services.ledger import disclosure_release_record
from transactions.services.licenses import (
    license_download_record,
    license_expire,
    license_issue,
    license_revoke,
    license_send_renewal_reminders,
)
from transactions.services.notifications import notification_mark_all_read, notification_mark_read
from transactions.services.requests import (
    access_request_approve,
    access_request_lapse,
    access_request_message_post,
    access_request_reject,
    access_request_resubmit,
    access_request_return,
    access_request_submit,
    access_request_update,
    access_request_withdraw,
    license_renew,
)

__all__ = [
    "access_request_approve",
    "access_request_lapse",
    "access_request_message_post",
    "access_request_reject",
    "access_request_resubmit",
    "access_request_return",
    "access_request_submit",
    "access_request_update",
    "access_request_withdraw",
    "disclosure_release_record",
    "extract_build",
    "extract_download",
    "extract_download_link",
    "extract_fail",
    "extract_request",
    "extracts_deliver_version",
    "extracts_purge_files",
    "extracts_requeue_stuck",
    "invoice_issue",
    "invoice_mark_paid",
    "invoice_void",
    "license_download_record",
    "license_expire",
    "license_issue",
    "license_renew",
    "license_revoke",
    "license_send_renewal_reminders",
    "license_trace_leak",
    "notification_mark_all_read",
    "notification_mark_read",
]
