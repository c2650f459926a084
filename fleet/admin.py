"""Vehicles, drivers, runs with their routes and proofs, and incidents in the Django admin,
changed through fleet.services."""

from django import forms
from django.contrib import admin
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from fleet import selectors, services
from fleet.models import Assignment, Driver, Incident, Route, Stop, Vehicle
from rappi.admin import call_service
from rappi.errors import NotFoundError


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
            call_service(
                self, request, obj, lambda: services.vehicle_update(vehicle=original, **fields)
            )
        else:
            fields.pop("plate", None)
            created = services.vehicle_create(plate=obj.plate, **fields)
            obj.pk = created.pk

    @admin.action(description=_("Deactivate selected vehicles"), permissions=["change"])
    def deactivate(self, request, queryset):
        for vehicle in queryset:
            call_service(
                self, request, vehicle, lambda v=vehicle: services.vehicle_deactivate(vehicle=v)
            )

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
        call_service(self, request, obj, lambda: services.driver_update(driver=original, **fields))


def evidence_file_url(file_id) -> str:
    return reverse("admin:fleet_evidence_file", args=[str(file_id)])


class IncidentInline(admin.TabularInline):
    model = Incident
    extra = 0
    can_delete = False
    fields = ["type", "severity", "origin", "notes", "reported_by", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class FinishForm(forms.Form):
    reason = forms.CharField(max_length=300, label=_("Reason"))


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "driver",
        "vehicle",
        "status",
        "order_list",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["=id", "driver__user__full_name", "vehicle__plate", "=orders__id"]
    list_select_related = ["driver__user", "vehicle"]
    readonly_fields = [
        "driver",
        "vehicle",
        "order_list",
        "status",
        "started_at",
        "finished_at",
        "cancel_reason",
        "created_by",
        "created_at",
        "route_link",
        "proof_links",
    ]
    fields = readonly_fields
    inlines = [IncidentInline]
    actions = ["start_runs", "cancel_runs", "finish_runs"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("orders")

    @admin.display(description=_("orders"))
    def order_list(self, assignment):
        return ", ".join(f"#{order.pk}" for order in assignment.orders.all())

    @admin.display(description=_("route"))
    def route_link(self, assignment):
        route = getattr(assignment, "route", None)
        if route is None:
            return "-"
        url = reverse("admin:fleet_route_change", args=[route.pk])
        return format_html('<a href="{}">{} ({} stops)</a>', url, route, route.stops.count())

    @admin.display(description=_("proofs"))
    def proof_links(self, assignment):
        links = [
            (
                evidence_file_url(stored.file_id),
                f"{record.kind}: {stored.filename}",
                record.destination_id,
            )
            for record in selectors.proofs_for_run(assignment=assignment)
            for stored in record.files
        ]
        if not links:
            return "-"
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a> (drop-off #{})', links)

    def get_urls(self):
        download = self.admin_site.admin_view(self.download_evidence)
        return [
            path("evidence/<str:file_id>/", download, name="fleet_evidence_file"),
            *super().get_urls(),
        ]

    def download_evidence(self, request, file_id):
        """Evidence bytes for staff in the admin (the API authenticates by token)."""
        try:
            stored, _record, stream = selectors.evidence_file_for(
                user=request.user, file_id=file_id
            )
        except NotFoundError:
            raise Http404() from None
        return FileResponse(
            stream, as_attachment=True, filename=stored.filename, content_type=stored.content_type
        )

    def has_add_permission(self, request):
        return False  # runs are planned through the API (checks need the whole picture)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Start selected runs"), permissions=["change"])
    def start_runs(self, request, queryset):
        for run in queryset:
            call_service(
                self,
                request,
                run,
                lambda r=run: services.assignment_start(assignment=r, by=request.user),
            )

    @admin.action(description=_("Cancel selected runs (before start)"), permissions=["change"])
    def cancel_runs(self, request, queryset):
        for run in queryset:
            call_service(
                self,
                request,
                run,
                lambda r=run: services.assignment_cancel(assignment=r, reason="admin"),
            )

    @admin.action(
        description=_("Finish selected runs now (reason required)"), permissions=["change"]
    )
    def finish_runs(self, request, queryset):
        if "apply" in request.POST:
            form = FinishForm(request.POST)
            if form.is_valid():
                for run in queryset:
                    call_service(
                        self,
                        request,
                        run,
                        lambda r=run: services.assignment_finish(
                            assignment=r, reason=form.cleaned_data["reason"], by=request.user
                        ),
                    )
                return None
        else:
            form = FinishForm()
        return render(
            request,
            "admin/orders/order/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Finish runs"),
                "form": form,
                "orders": queryset,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
            },
        )


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "severity", "origin", "reported_by", "created_at"]
    list_filter = ["type", "severity", "origin", "created_at"]
    search_fields = ["notes", "=assignment__id"]
    list_select_related = ["assignment", "reported_by"]
    readonly_fields = ["assignment", "origin", "reported_by", "created_at", "evidence_links"]
    fields = [
        "assignment",
        "type",
        "severity",
        "origin",
        "notes",
        "reported_by",
        "created_at",
        "evidence_links",
    ]

    @admin.display(description=_("evidence"))
    def evidence_links(self, incident):
        links = [
            (evidence_file_url(stored.file_id), stored.filename)
            for record in selectors.evidence_for_incident(incident=incident)
            for stored in record.files
        ]
        if not links:
            return "-"
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a>', links)

    def has_add_permission(self, request):
        return False


class StopInline(admin.TabularInline):
    model = Stop
    extra = 0
    can_delete = False
    fields = [
        "sequence",
        "kind",
        "status",
        "lat",
        "lng",
        "order",
        "destination",
        "eta",
        "visited_at",
    ]
    readonly_fields = fields
    ordering = ["sequence"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    """Routes are planned by the services (API or a run's start); here they are read."""

    list_display = ["__str__", "assignment", "distance_m", "duration_s", "provider", "created_at"]
    list_filter = ["provider", "created_at"]
    search_fields = ["=id", "=assignment__id"]
    list_select_related = ["assignment"]
    fields = ["assignment", "distance_m", "duration_s", "provider", "geometry", "created_at"]
    readonly_fields = fields
    inlines = [StopInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
