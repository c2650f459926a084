from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes answer with or without the trailing slash (`/api/v1/users` and
    `/api/v1/users/`): clients follow the documented spelling and no POST is ever redirected.
    Row ids are integers: another id is no route (404), never read as an action's name; a
    viewset over MongoDB documents declares its own `lookup_value_regex` (24 hex digits)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
        self._default_value_pattern = "[0-9]+"  # what DRF uses when a viewset declares none
