"""The pricing table of docs/domain.md, Orders, pricing and payments, in Decimal, at known local times in America/Lima."""

from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from orders import pricing
from orders.models import Tariff
from rappi.routing import Leg, Point

LIMA = ZoneInfo("America/Lima")
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=LIMA)


class FixedLegRouter:
    """Every leg is 10 km and 30 minutes, so the arithmetic is the only variable."""

    name = "fixed"

    def __init__(self, distance_m=10_000, duration_s=1_800):
        self.distance_m, self.duration_s = distance_m, duration_s

    def leg(self, origin, destination):
        return Leg(distance_m=self.distance_m, duration_s=self.duration_s)


@pytest.fixture
def tariff():
    return Tariff(
        base_fare=Decimal("5.00"),
        per_km=Decimal("1.20"),
        per_min=Decimal("0.15"),
        per_kg=Decimal("0.50"),
        minimum_fare=Decimal("8.00"),
        volumetric_factor=5000,
        multiplier_standard=Decimal("1.00"),
        multiplier_express=Decimal("1.50"),
        multiplier_urgent=Decimal("2.00"),
        night_start=time(22, 0),
        night_end=time(6, 0),
        night_surcharge=Decimal("0.25"),
        peak_windows=[{"start": "07:00", "end": "09:30"}],
        peak_surcharge=Decimal("0.15"),
        weekend_surcharge=Decimal("0.10"),
    )


def leg_price(tariff, *, at=TUESDAY_NOON, level="standard", router=None, **package):
    package = {"weight_kg": Decimal("2"), **package}
    quote = pricing.quote(
        tariff=tariff,
        origin=Point(-16.3988, -71.5369),
        destinations=[(Point(-16.421, -71.5217), pricing.Package(**package))],
        service_level=level,
        at=at,
        router=router or FixedLegRouter(),
    )
    return quote.legs[0].total


def test_plain_leg(tariff):
    # 5 + 1.20·10 + 0.15·30 + 0.50·2 = 22.50
    assert leg_price(tariff) == Decimal("22.50")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (
            datetime(2026, 11, 24, 23, 30, tzinfo=LIMA),
            Decimal("28.13"),
        ),  # 22.5·1.25 = 28.125 → half-up
        (datetime(2026, 11, 25, 5, 59, tzinfo=LIMA), Decimal("28.13")),  # window wraps midnight
        (datetime(2026, 11, 25, 6, 0, tzinfo=LIMA), Decimal("22.50")),  # end is exclusive
        (datetime(2026, 11, 24, 22, 0, tzinfo=LIMA), Decimal("28.13")),  # start is inclusive
        (datetime(2026, 11, 24, 21, 59, tzinfo=LIMA), Decimal("22.50")),
    ],
)
def test_night_window_across_midnight(tariff, local, expected):
    assert leg_price(tariff, at=local) == expected


def test_night_is_judged_in_lima_time_whatever_the_input_zone(tariff):
    utc = datetime(2026, 11, 25, 4, 30, tzinfo=ZoneInfo("UTC"))  # 23:30 in Lima
    assert leg_price(tariff, at=utc) == Decimal("28.13")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 24, 8, 0, tzinfo=LIMA), Decimal("25.88")),  # 22.5·1.15 = 25.875
        (datetime(2026, 11, 24, 9, 30, tzinfo=LIMA), Decimal("22.50")),
        (datetime(2026, 11, 24, 6, 59, tzinfo=LIMA), Decimal("22.50")),
    ],
)
def test_peak_window(tariff, local, expected):
    assert leg_price(tariff, at=local) == expected


def test_several_peak_windows(tariff):
    tariff.peak_windows = [{"start": "07:00", "end": "09:30"}, {"start": "17:30", "end": "19:30"}]
    assert leg_price(tariff, at=datetime(2026, 11, 24, 18, 0, tzinfo=LIMA)) == Decimal("25.88")


def test_weekend(tariff):
    assert leg_price(tariff, at=datetime(2026, 11, 28, 12, 0, tzinfo=LIMA)) == Decimal("24.75")


def test_surcharges_add_up(tariff):
    # Saturday night: 0.25 + 0.10 → 22.5·1.35 = 30.375 → 30.38
    assert leg_price(tariff, at=datetime(2026, 11, 28, 23, 0, tzinfo=LIMA)) == Decimal("30.38")


def test_volumetric_weight_wins_when_heavier(tariff):
    # 60·40·40 / 5000 = 19.2 kg > 2 kg → 5 + 12 + 4.5 + 9.6 = 31.10
    price = leg_price(tariff, length_cm=Decimal(60), width_cm=Decimal(40), height_cm=Decimal(40))
    assert price == Decimal("31.10")


def test_real_weight_wins_when_heavier(tariff):
    # 10·10·10 / 5000 = 0.2 kg < 2 kg
    price = leg_price(tariff, length_cm=Decimal(10), width_cm=Decimal(10), height_cm=Decimal(10))
    assert price == Decimal("22.50")


def test_volumetric_needs_all_three_dimensions(tariff):
    assert leg_price(tariff, length_cm=Decimal(60), width_cm=Decimal(40)) == Decimal("22.50")


def test_minimum_fare(tariff):
    # 5 + 1.2·0.5 + 0.15·2 + 0.5·0.5 = 6.15 → 8.00
    router = FixedLegRouter(distance_m=500, duration_s=120)
    assert leg_price(tariff, router=router, weight_kg=Decimal("0.5")) == Decimal("8.00")


@pytest.mark.parametrize(
    ("level", "expected"), [("standard", "22.50"), ("express", "33.75"), ("urgent", "45.00")]
)
def test_service_level_multipliers(tariff, level, expected):
    assert leg_price(tariff, level=level) == Decimal(expected)


def test_rounding_is_half_up_to_cents(tariff):
    tariff.per_km = Decimal("1.2345")
    # 5 + 12.345 + 4.5 + 1 = 22.845 → 22.85 (banker's rounding would give 22.84)
    assert leg_price(tariff) == Decimal("22.85")


def test_order_total_sums_legs_and_floors_adjustments_at_zero():
    assert pricing.order_total(Decimal("22.50"), Decimal("-5.00")) == Decimal("17.50")
    assert pricing.order_total(Decimal("22.50"), Decimal("-30.00")) == Decimal("0.00")
    assert pricing.order_total(Decimal("22.50"), Decimal("2.25")) == Decimal("24.75")


def test_each_destination_is_a_leg_from_the_origin(tariff):
    quote = pricing.quote(
        tariff=tariff,
        origin=Point(-16.3988, -71.5369),
        destinations=[
            (Point(-16.421, -71.5217), pricing.Package(Decimal("2"))),
            (Point(-16.3891, -71.5456), pricing.Package(Decimal("2"))),
        ],
        service_level="standard",
        at=TUESDAY_NOON,
        router=FixedLegRouter(),
    )
    assert [leg.destination_index for leg in quote.legs] == [0, 1]
    assert quote.legs_total == Decimal("45.00")
