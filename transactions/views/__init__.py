"""The transactions web pages, by audience: `buyers`, `reviewers` (centers' reviewers;
a request's page is shared with its buyer), `operators`, `notifications` (everyone), and
`_common` (what they share). Thin: reads through transactions.selectors, each write through
one service."""
