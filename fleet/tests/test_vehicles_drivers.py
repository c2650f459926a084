"""Vehicles and drivers (docs/domain.md, Fleet and dispatch): validation, soft delete, default vehicle rules, the
driver ↔ login cascade, own-record scope, ratings and list cost."""

import pytest
from django.core.management import call_command

from fleet.models import Driver, Vehicle
from fleet.tests.factories import VehicleFactory, driver_user
from identity.models import User
from identity.tests.factories import UserFactory
from orders.models import Rating
from orders.tests.factories import CustomerFactory, make_order

pytestmark = pytest.mark.django_db


def vehicle_body(**overrides):
    return {
        "plate": "v1a-123",
        "type": "van",
        "capacity_kg": "900",
        "length_cm": "250",
        "width_cm": "150",
        "height_cm": "140",
        **overrides,
    }


def test_create_a_vehicle_with_a_normalised_plate(dispatcher_api):
    response = dispatcher_api.post("/api/v1/vehicles/", vehicle_body(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["plate"] == "V1A-123"
    assert response.json()["status"] == "operational"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"plate": "ABC123"}, "plate"),
        ({"plate": "AB-1234"}, "plate"),
        ({"capacity_kg": "0"}, "capacity_kg"),
        ({"height_cm": "-1"}, "height_cm"),
        ({"status": "flying"}, "status"),
        ({"type": "spaceship"}, "type"),
    ],
)
def test_vehicle_input_is_validated(dispatcher_api, overrides, field):
    response = dispatcher_api.post("/api/v1/vehicles/", vehicle_body(**overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_plates_are_unique_in_any_case(dispatcher_api):
    VehicleFactory(plate="V1A-123")
    response = dispatcher_api.post(
        "/api/v1/vehicles/", vehicle_body(plate="v1a-123"), format="json"
    )
    assert response.status_code == 400
    assert "plate" in response.json()["error"]["details"]["fields"]


def test_deleting_a_vehicle_deactivates_it_and_frees_its_drivers(dispatcher_api):
    vehicle = VehicleFactory()
    _user, driver = driver_user()
    driver.vehicle = vehicle
    driver.save()
    assert dispatcher_api.delete(f"/api/v1/vehicles/{vehicle.pk}").status_code == 204
    vehicle.refresh_from_db()
    assert vehicle.is_active is False
    assert vehicle.status == "inactive"
    assert Driver.objects.get(pk=driver.pk).vehicle_id is None
    assert dispatcher_api.get("/api/v1/vehicles/?is_active=false").json()["count"] == 1


def test_vehicle_filters(dispatcher_api):
    VehicleFactory(status="maintenance")
    VehicleFactory()
    assert dispatcher_api.get("/api/v1/vehicles/?status=maintenance").json()["count"] == 1
    assert dispatcher_api.get("/api/v1/vehicles/?status=broken").status_code == 400


def test_staff_create_a_driver_with_its_login(dispatcher_api):
    vehicle = VehicleFactory()
    response = dispatcher_api.post(
        "/api/v1/drivers/",
        {
            "email": "nuevo@rappi.pe",
            "full_name": "Nuevo Chofer",
            "password": "Str0ng-Passw0rd",
            "phone": "+51 959",
            "licence_number": "q1234567",
            "vehicle_id": vehicle.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["licence_number"] == "Q1234567"
    assert body["vehicle_id"] == vehicle.pk
    assert body["availability"] == "available"
    assert body["email"] == "nuevo@rappi.pe"
    assert User.objects.get(email="nuevo@rappi.pe").role.name == "driver"


def test_licences_are_unique(dispatcher_api):
    _user, driver = driver_user()
    Driver.objects.filter(pk=driver.pk).update(licence_number="Q1234567")
    response = dispatcher_api.post(
        "/api/v1/drivers/",
        {
            "email": "x@rappi.pe",
            "full_name": "X",
            "password": "Str0ng-Passw0rd",
            "licence_number": "Q1234567",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "licence_number" in response.json()["error"]["details"]["fields"]
    assert not User.objects.filter(email="x@rappi.pe").exists()


@pytest.mark.parametrize("state", [{"status": "maintenance"}, {"is_active": False}])
def test_a_default_vehicle_must_be_active_and_operational(dispatcher_api, state):
    _user, driver = driver_user()
    vehicle = VehicleFactory(**state)
    response = dispatcher_api.put(
        f"/api/v1/drivers/{driver.pk}/vehicle", {"vehicle_id": vehicle.pk}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "vehicle_unavailable"
    ok = VehicleFactory()
    assert (
        dispatcher_api.put(
            f"/api/v1/drivers/{driver.pk}/vehicle", {"vehicle_id": ok.pk}, format="json"
        ).json()["vehicle_id"]
        == ok.pk
    )
    assert (
        dispatcher_api.put(
            f"/api/v1/drivers/{driver.pk}/vehicle", {"vehicle_id": None}, format="json"
        ).json()["vehicle_id"]
        is None
    )


def test_giving_the_driver_role_creates_the_record_and_deactivation_cascades(admin_api):
    user = UserFactory(role_name="customer")
    admin_api.patch(f"/api/v1/users/{user.pk}", {"role": "driver"}, format="json")
    driver = Driver.objects.get(user=user)
    assert driver.is_active
    assert driver.licence_number is None
    admin_api.delete(f"/api/v1/users/{user.pk}")
    driver.refresh_from_db()
    assert driver.is_active is False
    assert driver.availability == "inactive"


def test_a_login_reactivated_brings_its_driver_record_back_available(admin_api):
    user, driver = driver_user()
    admin_api.delete(f"/api/v1/users/{user.pk}")
    response = admin_api.patch(f"/api/v1/users/{user.pk}", {"is_active": True}, format="json")
    assert response.status_code == 200, response.content
    driver.refresh_from_db()
    assert driver.is_active is True
    assert driver.availability == "available"


def test_deactivating_a_driver_deactivates_its_login_and_reactivation_needs_it(
    dispatcher_api, client_for
):
    user, driver = driver_user()
    own = client_for(user)
    assert dispatcher_api.delete(f"/api/v1/drivers/{driver.pk}").status_code == 204
    assert User.objects.get(pk=user.pk).is_active is False
    assert own.get("/api/v1/auth/me").status_code == 401
    refused = dispatcher_api.patch(
        f"/api/v1/drivers/{driver.pk}", {"is_active": True}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "user_inactive"


def test_a_driver_sees_only_its_own_record(client_for):
    user, driver = driver_user()
    _other_user, other = driver_user()
    own = client_for(user)
    assert [d["id"] for d in own.get("/api/v1/drivers/").json()["results"]] == [driver.pk]
    assert own.get(f"/api/v1/drivers/{other.pk}").status_code == 404
    me = own.get("/api/v1/drivers/me")
    assert me.status_code == 200
    assert me.json()["id"] == driver.pk
    assert (
        own.patch(f"/api/v1/drivers/{driver.pk}", {"phone": "1"}, format="json").status_code == 403
    )


def test_me_without_a_driver_profile_is_404(dispatcher_api):
    assert dispatcher_api.get("/api/v1/drivers/me").status_code == 404


def test_a_driver_sees_only_its_own_vehicle(client_for):
    user, driver = driver_user()
    mine, other = VehicleFactory(), VehicleFactory()
    Driver.objects.filter(pk=driver.pk).update(vehicle=mine)
    own = client_for(user)
    assert [v["id"] for v in own.get("/api/v1/vehicles/").json()["results"]] == [mine.pk]
    assert own.get(f"/api/v1/vehicles/{other.pk}").status_code == 404
    assert (
        own.post("/api/v1/vehicles/", vehicle_body(plate="Z9Z-999"), format="json").status_code
        == 403
    )


@pytest.mark.parametrize("role", ["customer"])
def test_customers_see_no_fleet(client_for, role):
    client = client_for(UserFactory(role_name=role))
    assert client.get("/api/v1/vehicles/").status_code == 403
    assert client.get("/api/v1/drivers/").status_code == 403


def test_driver_ratings_average_and_latest(dispatcher_api):
    _user, driver = driver_user()
    by = UserFactory(role_name="dispatcher")
    for score in (5, 4, 3):
        order = make_order(customer=CustomerFactory(), by=by)
        Rating.objects.create(order=order, driver_id=driver.pk, score=score)
    body = dispatcher_api.get(f"/api/v1/drivers/{driver.pk}/ratings").json()
    assert body["count"] == 3
    assert body["average"] == 4.0
    assert [r["score"] for r in body["latest"]] == [3, 4, 5]


@pytest.mark.parametrize("size", [1, 30])
def test_driver_and_vehicle_lists_cost_constant_queries(
    dispatcher_api, django_assert_max_num_queries, size
):
    for _ in range(size):
        driver_user()
        VehicleFactory()
    with django_assert_max_num_queries(6):
        assert dispatcher_api.get("/api/v1/drivers/?page_size=200").json()["count"] == size
    with django_assert_max_num_queries(6):
        assert dispatcher_api.get("/api/v1/vehicles/?page_size=200").json()["count"] == size


def test_admin_edits_vehicles_and_drivers_through_the_services(client):
    client.force_login(UserFactory(role_name="admin"))
    vehicle = VehicleFactory()
    _user, driver = driver_user()
    assert client.get("/admin/fleet/vehicle/").status_code == 200
    assert client.get(f"/admin/fleet/driver/{driver.pk}/change/").status_code == 200
    client.post("/admin/fleet/vehicle/", {"action": "deactivate", "_selected_action": [vehicle.pk]})
    assert Vehicle.objects.get(pk=vehicle.pk).is_active is False


def test_the_demo_seed_adds_vehicles_and_drivers():
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    assert Vehicle.objects.count() == 5  # four in service (one a spare), one in the workshop
    driver = Driver.objects.get(user__email="driver1@rappi.pe")
    assert driver.licence_number == "Q12345678"
    assert driver.vehicle.plate == "V1A-123"
