"""A CKAN-compatible, read-only Action API (`/api/3/action/<action>`, and `/api/action/<action>`
where the `ckanapi` library looks): what Korean and foreign portals and most scripts harvest
through. `actions` shapes catalog reads (catalog.selectors, with their visibility rules) as CKAN
packages, organizations and tags; `api` answers in CKAN's envelope and maps errors in one place.
"""
