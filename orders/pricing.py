"""Pricing (docs/domain.md, Orders, pricing and payments), all in Decimal. Per
destination, a leg from the origin:

    chargeable_weight = max(weight, l·w·h / volumetric_factor)   (volumetric only with l, w, h)
    subtotal = base + per_km·km + per_min·min + per_kg·chargeable_weight
    surcharge = Σ fractions applying at the scheduled (or current) time in America/Lima:
                night window (may wrap midnight), any peak window, weekend
    leg = max(minimum, subtotal · level_multiplier · (1 + surcharge)), rounded half-up to 0.01

Order total = Σ legs + staff adjustment, floored at 0. Distances and durations come from
the routing provider. Only the leg is rounded; the distance, duration and chargeable
weight shown beside it are rounded for display after pricing."""

from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from rappi.routing import Point, RoutingProvider

LOCAL_TZ = ZoneInfo("America/Lima")
CENT = Decimal("0.01")
ZERO = Decimal("0")


@dataclass(frozen=True)
class Package:
    weight_kg: Decimal
    length_cm: Decimal | None = None
    width_cm: Decimal | None = None
    height_cm: Decimal | None = None


@dataclass(frozen=True)
class Surcharge:
    night: Decimal
    peak: Decimal
    weekend: Decimal

    @property
    def total(self) -> Decimal:
        return self.night + self.peak + self.weekend


@dataclass(frozen=True)
class LegPrice:
    destination_index: int
    distance_km: Decimal
    duration_min: Decimal
    chargeable_weight_kg: Decimal
    total: Decimal


@dataclass(frozen=True)
class Quote:
    legs: list[LegPrice]
    surcharge: Surcharge
    currency: str
    priced_at: datetime

    @property
    def legs_total(self) -> Decimal:
        return sum((leg.total for leg in self.legs), ZERO).quantize(CENT)


def _in_window(moment: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # wraps midnight


def _parse_time(value: str | time) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def surcharge_at(tariff, when: datetime) -> Surcharge:
    local = when.astimezone(LOCAL_TZ)
    moment = local.time().replace(tzinfo=None)
    night_window = _parse_time(tariff.night_start), _parse_time(tariff.night_end)
    night = tariff.night_surcharge if _in_window(moment, *night_window) else ZERO
    peak = (
        tariff.peak_surcharge
        if any(
            _in_window(moment, _parse_time(w["start"]), _parse_time(w["end"]))
            for w in tariff.peak_windows or []
        )
        else ZERO
    )
    weekend = tariff.weekend_surcharge if local.weekday() >= 5 else ZERO
    return Surcharge(night=night, peak=peak, weekend=weekend)


def chargeable_weight(tariff, package: Package) -> Decimal:
    weight = Decimal(package.weight_kg)
    sides = (package.length_cm, package.width_cm, package.height_cm)
    dims = [d for d in sides if d is not None and d > 0]
    if len(dims) == 3:
        volumetric = (
            Decimal(dims[0]) * Decimal(dims[1]) * Decimal(dims[2]) / tariff.volumetric_factor
        )
        weight = max(weight, volumetric)
    return weight


def level_multiplier(tariff, service_level: str) -> Decimal:
    return getattr(tariff, f"multiplier_{service_level}")


def price_leg(
    tariff,
    *,
    distance_km: Decimal,
    duration_min: Decimal,
    chargeable_kg: Decimal,
    service_level: str,
    surcharge: Surcharge,
) -> Decimal:
    subtotal = (
        tariff.base_fare
        + tariff.per_km * distance_km
        + tariff.per_min * duration_min
        + tariff.per_kg * chargeable_kg
    )
    leg = subtotal * level_multiplier(tariff, service_level) * (1 + surcharge.total)
    return max(tariff.minimum_fare, leg).quantize(CENT, rounding=ROUND_HALF_UP)


def quote(
    *,
    tariff,
    origin: Point,
    destinations: list[tuple[Point, Package]],
    service_level: str,
    at: datetime,
    router: RoutingProvider,
) -> Quote:
    surcharge = surcharge_at(tariff, at)
    legs = []
    for index, (point, package) in enumerate(destinations):
        route = router.leg(origin, point)
        distance_km = Decimal(str(route.distance_m)) / 1000
        duration_min = Decimal(str(route.duration_s)) / 60
        chargeable = chargeable_weight(tariff, package)
        legs.append(
            LegPrice(
                destination_index=index,
                distance_km=distance_km.quantize(Decimal("0.001"), ROUND_HALF_UP),
                duration_min=duration_min.quantize(CENT, ROUND_HALF_UP),
                chargeable_weight_kg=chargeable.quantize(Decimal("0.001"), ROUND_HALF_UP),
                total=price_leg(
                    tariff,
                    distance_km=distance_km,
                    duration_min=duration_min,
                    chargeable_kg=chargeable,
                    service_level=service_level,
                    surcharge=surcharge,
                ),
            )
        )
    return Quote(legs=legs, surcharge=surcharge, currency=tariff.currency, priced_at=at)


def order_total(legs_total: Decimal, adjustment: Decimal) -> Decimal:
    return max(ZERO, legs_total + adjustment).quantize(CENT)
