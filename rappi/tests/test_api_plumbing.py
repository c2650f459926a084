"""The API plumbing the apps share (rappi/api): input read through a serializer, viewsets
over the caller's rows, error responses declared with the one error body."""

import pytest
from django.urls import Resolver404, path, resolve
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet.api.views import VehicleViewSet
from fleet.models import Vehicle
from fleet.tests.factories import VehicleFactory
from rappi.api.inputs import validated
from rappi.api.schema import ErrorSerializer, error_response
from rappi.errors import NotFoundError


class _Input(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    count = serializers.IntegerField(default=1)

    def validate_name(self, value):
        return self.context.get("prefix", "") + value


# --- validated ----------


def test_validated_answers_the_validated_data_as_a_dict_the_caller_may_change():
    data = validated(_Input, {"name": "abc"})
    assert data == {"name": "abc", "count": 1}
    data.pop("count")  # the caller's own copy
    assert validated(_Input, {"name": "abc"}) == {"name": "abc", "count": 1}


def test_validated_raises_the_validation_error_naming_each_field():
    with pytest.raises(ValidationError) as raised:
        validated(_Input, {"name": "too long", "count": "x"})
    assert set(raised.value.detail) == {"name", "count"}


def test_validated_hands_its_keywords_to_the_serializer():
    assert validated(_Input, {"name": "b"}, context={"prefix": "a"})["name"] == "ab"
    assert validated(_Input, {"count": 2}, partial=True) == {"count": 2}


# --- Viewsets over the caller's rows ----------


def _viewset(user=None, **kwargs):
    view = VehicleViewSet()
    view.request = type("Request", (), {"user": user})()
    view.kwargs = kwargs
    view.format_kwarg = None
    return view


def test_schema_generation_gets_an_empty_queryset_of_the_model_without_a_caller():
    view = _viewset(user=None)
    view.swagger_fake_view = True
    queryset = view.get_queryset()
    assert queryset.model is Vehicle
    assert queryset.query.is_empty()  # no selector asked: there is no caller to scope by


@pytest.mark.django_db
def test_the_rows_and_the_row_come_from_the_selectors_of_the_callers_scope(dispatcher, customer):
    vehicle = VehicleFactory()
    assert list(_viewset(dispatcher).get_queryset()) == [vehicle]
    assert _viewset(dispatcher, pk=str(vehicle.pk)).get_object() == vehicle
    assert list(_viewset(customer).get_queryset()) == []
    with pytest.raises(NotFoundError):  # outside the scope: 404
        _viewset(customer, pk=str(vehicle.pk)).get_object()


def test_row_routes_take_integer_ids_and_document_routes_24_hex_digits():
    assert resolve("/api/v1/vehicles/12").url_name == "vehicles-detail"
    assert resolve("/api/v1/customers/3/addresses/4").url_name == "addresses-detail"
    assert resolve("/api/v1/orders/3/destinations/4").url_name == "destinations-detail"
    for not_an_id in ("/api/v1/vehicles/abc", "/api/v1/geofences/12"):
        with pytest.raises(Resolver404):
            resolve(not_an_id)
    assert resolve("/api/v1/geofences/" + "a" * 24).url_name == "geofences-detail"


# --- Error responses ----------


def test_error_response_declares_the_error_body():
    response = error_response("`conflict_code`")
    assert response.response is ErrorSerializer
    assert response.description == "`conflict_code`"


class _Declared(APIView):
    permission_classes: list = []

    @extend_schema(responses={200: None, 409: OpenApiResponse(description="`some_conflict`")})
    def get(self, request):
        return Response()


def test_an_error_status_declared_without_its_body_is_a_schema_warning(capsys):
    schema = SchemaGenerator(patterns=[path("declared", _Declared.as_view())]).get_schema()
    conflict = schema["paths"]["/declared"]["get"]["responses"]["409"]
    # Still documented with the error body, but the generator says where it was left out.
    assert conflict["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "declared without its body" in capsys.readouterr().err
