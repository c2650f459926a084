"""Vehicles, drivers, runs with their routes and proofs, and incidents in the Django admin,
changed through fleet.services."""

from decimal import Decimal
from functools import partial

import pymongo
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from pymongo.errors import ConnectionFailure, ExecutionTimeout

from fleet import selectors, services
from fleet.models import Assignment, Driver, Incident, Route, Stop, Vehicle
from orders.models import Order, OrderStatus
from rappi.admin import call_service, form_changes, save_changes
from rappi.errors import NotFoundError
from tracking import pings


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ["plate", "type", "capacity_kg", "status", "is_active"]
    list_filter = ["status", "type", "is_active"]
    search_fields = ["plate"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["deactivate"]

    def save_model(self, request, obj, form, change):
        if change:
            save_changes(self, request, obj, form, partial(services.vehicle_update, vehicle=obj))
        else:
            fields = form_changes(form)
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


# A driver page waits this long for MongoDB, then shows the fixes as unknown.
LAST_FIX_TIMEOUT_S = 1.0
UNKNOWN = object()


def last_positions(driver_ids: list[int]) -> dict:
    """Tracking's latest-position documents of these drivers (one query), or UNKNOWN for
    each while MongoDB cannot answer: the driver pages are PostgreSQL's and stay up."""
    try:
        with pymongo.timeout(LAST_FIX_TIMEOUT_S):
            return pings.positions_for(driver_ids=driver_ids)
    except (ConnectionFailure, ExecutionTimeout):
        return dict.fromkeys(driver_ids, UNKNOWN)


def last_fix_text(position, *, now) -> str:
    """A driver's last fix (tracking's latest-position document) for staff: when, how long
    ago, where, and whether it is too old to trust (GPS_STALE_AFTER_S)."""
    if position is UNKNOWN:
        return gettext("unknown (tracking unavailable)")
    if position is None:
        return gettext("no fix")
    fix = pings.fix_output(position, now=now)
    seconds = int(fix["age_s"])
    age = (
        ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}
        if seconds < 60
        else timesince(fix["recorded_at"], now, depth=1)
    )
    return gettext("%(time)s (%(age)s ago) · %(lat).5f, %(lng).5f · %(state)s") % {
        "time": f"{timezone.localtime(fix['recorded_at']):%Y-%m-%d %H:%M:%S %Z}",
        "age": age,
        "lat": fix["lat"],
        "lng": fix["lng"],
        "state": gettext("stale") if fix["stale"] else gettext("live"),
    }


class DriverChangeList(ChangeList):
    """The page's drivers with their last positions, read in one MongoDB query."""

    def get_results(self, request):
        super().get_results(request)
        drivers = list(self.result_list)  # evaluated once; the page shows these instances
        positions = last_positions([driver.pk for driver in drivers])
        for driver in drivers:
            driver.last_position = positions.get(driver.pk)


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "licence_number",
        "phone",
        "availability",
        "vehicle",
        "last_fix",
        "is_active",
    ]
    list_filter = ["availability", "is_active"]
    search_fields = ["user__full_name", "user__email", "licence_number", "phone"]
    list_select_related = ["user", "vehicle"]
    readonly_fields = ["user", "last_fix", "created_at", "updated_at"]
    fields = [
        "user",
        "licence_number",
        "phone",
        "availability",
        "vehicle",
        "last_fix",
        "is_active",
        "created_at",
        "updated_at",
    ]

    def get_changelist(self, request, **kwargs):
        return DriverChangeList

    @admin.display(description=_("last fix"))
    def last_fix(self, driver):
        if not hasattr(driver, "last_position"):  # the driver's own page
            driver.last_position = last_positions([driver.pk]).get(driver.pk)
        return last_fix_text(driver.last_position, now=timezone.now())

    def has_add_permission(self, request):
        return False  # a driver record comes with a login of role `driver`

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "vehicle":
            kwargs["queryset"] = Vehicle.objects.filter(is_active=True, status="operational")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        save_changes(self, request, obj, form, partial(services.driver_update, driver=obj))


def evidence_file_url(file_id) -> str:
    return reverse("admin:fleet_evidence_file", args=[str(file_id)])


class IncidentInline(admin.TabularInline):
    model = Incident
    extra = 0
    can_delete = False
    fields = ["type", "severity", "origin", "notes", "reported_by", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]  # typed apart in django-stubs

    def has_add_permission(self, request, obj=None):
        return False


class FinishForm(forms.Form):
    reason = forms.CharField(max_length=300, label=_("Reason"))


class OrdersPicker(FilteredSelectMultiple):
    """The admin's two-box picker, wrapped as on a model's own many-to-many field: its
    script puts the boxes first in the select's parent, which must not hold the label."""

    def render(self, name, value, attrs=None, renderer=None):
        picker = super().render(name, value, attrs, renderer)
        return format_html('<div class="related-widget-wrapper">{}</div>', picker)


class PendingOrdersField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, order):
        destinations = list(order.destinations.all())
        districts = ", ".join(dict.fromkeys(d.district for d in destinations))
        weight = sum((d.weight_kg for d in destinations), Decimal(0))
        return f"#{order.pk} · {order.customer.full_name} · {districts} · {weight.normalize():f} kg"


class DriverField(forms.ModelChoiceField):
    def label_from_instance(self, driver):
        parts = [driver.user.full_name, driver.get_availability_display()]
        if driver.vehicle is not None:
            parts.append(driver.vehicle.plate)
        return " · ".join(str(part) for part in parts)


class VehicleField(forms.ModelChoiceField):
    def label_from_instance(self, vehicle):
        capacity = f"{vehicle.capacity_kg.normalize():f} kg"
        parts = [vehicle.plate, vehicle.get_type_display(), capacity, vehicle.get_status_display()]
        return " · ".join(str(part) for part in parts)


class RunAddForm(forms.Form):
    """A new run as fleet.services.assignment_create takes it. Only pending orders are
    offered; drivers and vehicles are all the active ones, since whether they may take
    these orders now is the service's to decide under its locks (and to explain)."""

    orders = PendingOrdersField(
        queryset=Order.objects.none(),
        label=_("Orders"),
        widget=OrdersPicker(_("orders"), is_stacked=False),
    )
    driver = DriverField(queryset=Driver.objects.none(), label=_("Driver"))
    vehicle = VehicleField(queryset=Vehicle.objects.none(), label=_("Vehicle"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["orders"].queryset = (
            Order.objects.filter(status=OrderStatus.PENDING)
            .select_related("customer")
            .prefetch_related("destinations")
            .order_by("pk")
        )
        self.fields["driver"].queryset = Driver.objects.filter(is_active=True).select_related(
            "user", "vehicle"
        )
        self.fields["vehicle"].queryset = Vehicle.objects.filter(is_active=True)


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
    fields = readonly_fields  # type: ignore[assignment]  # typed apart in django-stubs
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

    def add_view(self, request, form_url="", extra_context=None):
        """A new run through fleet.services.assignment_create (its locks and rules): a
        refusal shows as an error message over the form, which keeps what was chosen;
        a created run opens on its own page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RunAddForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            data, created = form.cleaned_data, []

            def create():
                created.append(
                    services.assignment_create(
                        orders=list(data["orders"]),
                        driver=data["driver"],
                        vehicle=data["vehicle"],
                        by=request.user,
                    )
                )

            if call_service(self, request, gettext("Run not created"), create):
                run = created[0]
                self.log_addition(request, run, [{"added": {}}])
                self.message_user(
                    request, gettext("Run #%(id)s created.") % {"id": run.pk}, messages.SUCCESS
                )
                return redirect("admin:fleet_assignment_change", run.pk)
        adminform = helpers.AdminForm(
            form, [(None, {"fields": list(form.fields)})], {}, model_admin=self
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add run"),
            "subtitle": None,
            "adminform": adminform,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + adminform.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            # One way out of the form: the new run's page.
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

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
                lambda r=run: services.assignment_cancel(
                    assignment=r, reason="admin", by=request.user
                ),
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

    def save_model(self, request, obj, form, change):
        original = Incident.objects.get(pk=obj.pk)  # the form has changed `obj` already
        save_changes(self, request, obj, form, partial(services.incident_update, incident=original))


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
    readonly_fields = fields  # type: ignore[assignment]  # typed apart in django-stubs
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
    readonly_fields = fields  # type: ignore[assignment]  # typed apart in django-stubs
    inlines = [StopInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
