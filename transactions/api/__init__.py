"""Transactions API, one module per resource: `requests` (buyers and reviewers), `licenses`,
`invoices`, `notifications`, `audit` (operators), `stats` (centers) and `extracts`; the
serializers they share in `serializers`, the rest in `_common`.

Thin views that parse input, call one service and shape output. Visibility is the selectors'
queryset (invisible → 404); what a visible caller may do is the service's rule (→ 403); the
state is the service's check (→ 409)."""
