from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes answer with or without the trailing slash (`/api/v1/users` and
    `/api/v1/users/`): clients follow the documented spelling and no POST is ever redirected."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
