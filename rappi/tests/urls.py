"""The real URLconf plus views that fail on purpose, for the error-body tests."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from rappi.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


class ExplodingApiView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internals")


def exploding_plain_view(request):
    raise RuntimeError("secret internals")


class EchoView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"received": request.data})


urlpatterns = [
    path("api/v1/test/explode", ExplodingApiView.as_view()),
    path("api/v1/test/explode-plain", exploding_plain_view),
    path("api/v1/test/echo", EchoView.as_view()),
    *urlpatterns,
]
