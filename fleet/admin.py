"""Vehicles and drivers in the Django admin, changed through fleet.services."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from fleet import services
from fleet.models import Driver, Vehicle
from rappi.errors import DomainError


def _run(modeladmin, request, label, fn) -> bool:
    try:
        fn()
    except DomainError as exc:
        modeladmin.message_user(request, f"{label}: {exc.message}", messages.ERROR)
        return False
    except ValidationError as exc:
        modeladmin.message_user(request, f"{label}: {'; '.join(exc.messages)}", messages.ERROR)
        return False
    return True


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ["plate", "type", "capacity_kg", "status", "is_active"]
    list_filter = ["status", "type", "is_active"]
    search_fields = ["plate"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["deactivate"]

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data}
        if change:
            original = Vehicle.objects.get(pk=obj.pk)
            _run(self, request, obj, lambda: services.vehicle_update(vehicle=original, **fields))
        else:
            fields.pop("plate", None)
            created = services.vehicle_create(plate=obj.plate, **fields)
            obj.pk = created.pk

    @admin.action(description=_("Deactivate selected vehicles"), permissions=["change"])
    def deactivate(self, request, queryset):
        for vehicle in queryset:
            _run(self, request, vehicle, lambda v=vehicle: services.vehicle_deactivate(vehicle=v))

    def has_delete_permission(self, request, obj=None):
        return False  # deactivated, never deleted: runs refer to them


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    list_display = ["__str__", "licence_number", "phone", "availability", "vehicle", "is_active"]
    list_filter = ["availability", "is_active"]
    search_fields = ["user__full_name", "user__email", "licence_number", "phone"]
    list_select_related = ["user", "vehicle"]
    readonly_fields = ["user", "created_at", "updated_at"]
    fields = [
        "user",
        "licence_number",
        "phone",
        "availability",
        "vehicle",
        "is_active",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False  # a driver record comes with a login of role `driver`

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "vehicle":
            kwargs["queryset"] = Vehicle.objects.filter(is_active=True, status="operational")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data}
        original = Driver.objects.select_related("user").get(pk=obj.pk)
        _run(self, request, obj, lambda: services.driver_update(driver=original, **fields))
