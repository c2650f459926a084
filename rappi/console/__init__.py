"""The dispatcher console: server-rendered pages for staff under /console/.

This package holds what every page shares: who may open a page (access.py), the
navigation, sign-in and sign-out, running a service from a form (actions.py), list
filtering and paging (lists.py) and the overview. The pages themselves live in the app
that owns their data (orders/views.py, fleet/views.py, …) and call the same selectors and
services as the API."""
