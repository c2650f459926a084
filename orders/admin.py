"""Customers, orders, payments, invoices and the tariff in the Django admin. Every change
of state goes through orders.services, so the rules hold here as in the API; a refused
change shows as a message."""

from datetime import datetime, time, timedelta
from functools import partial

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orders import services
from orders.models import Address, Customer, Destination, Invoice, Order, Payment, Rating, Tariff
from orders.services.customers import ADDRESS_FIELDS
from rappi.admin import call_service, save_changes
from rappi.console import maps


class MapRows:
    """Inline rows with a small map each (static/orders/admin-map.js makes them): a click
    fills the row's lat/lng inputs and a pin shows where they point; a read-only row shows
    its position. Rows added with "Add another" get theirs too."""

    class Media:
        css = {"all": ["vendor/leaflet/leaflet.css", "console/map.css", "orders/admin-map.css"]}
        js = ["vendor/leaflet/leaflet.js", "console/map.js", "orders/admin-map.js"]

    @admin.display(description=_("on the map"))
    def on_map(self, obj):
        tiles = maps.tiles()
        has_position = obj is not None and obj.lat is not None and obj.lng is not None
        return format_html(
            '<span class="map admin-map" data-admin-map role="region" aria-label="{}"'
            ' data-tiles="{}" data-attribution="{}" data-center="{}" data-zoom="{}"'
            ' data-lat="{}" data-lng="{}"></span>',
            gettext("Map: click it to set this row's latitude and longitude"),
            tiles["url"],
            tiles["attribution"],
            tiles["center"],
            tiles["zoom"],
            obj.lat if has_position else "",
            obj.lng if has_position else "",
        )


class AddressFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        primaries = [
            f
            for f in self.forms
            if f.cleaned_data.get("is_primary") and not f.cleaned_data.get("DELETE")
        ]
        if len(primaries) > 1:
            raise forms.ValidationError(_("A customer has one primary address."))


class AddressInline(MapRows, admin.TabularInline):
    model = Address
    formset = AddressFormSet
    extra = 0
    fields = ["label", "line", "district", "lat", "lng", "on_map", "is_primary"]
    readonly_fields = ["on_map"]


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["full_name", "email", "phone", "tax_id", "is_active"]

    def clean_email(self):
        # The service's rule, shown on the field: another account's email, or a new one
        # for a customer whose login decides it, is refused.
        current = self.instance if self.instance.pk else None
        try:
            return services.customer_email_clean(
                email=self.cleaned_data.get("email", ""), customer=current
            )
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["email"]) from None


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    list_display = [
        "full_name",
        "email",
        "phone",
        "tax_id",
        "is_active",
        "order_count",
        "created_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["full_name", "email", "phone", "tax_id"]
    readonly_fields = ["user", "created_at", "updated_at"]
    inlines = [AddressInline]
    actions = ["deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(order_total=Count("orders"))

    @admin.display(description=_("orders"), ordering="order_total")
    def order_count(self, customer):
        return customer.order_total

    def save_model(self, request, obj, form, change):
        if change:
            save_changes(self, request, obj, form, partial(services.customer_update, customer=obj))
            return
        data = form.cleaned_data
        created = services.customer_create(
            full_name=data["full_name"],
            email=data["email"],
            phone=data["phone"],
            tax_id=data["tax_id"],
        )
        if not data["is_active"]:
            services.customer_deactivate(customer=created)
        obj.pk, obj.email, obj.is_active = created.pk, created.email, created.is_active

    def save_formset(self, request, form, formset, change):
        """The address rows through the services, as the API writes them: the first
        address is primary, a new primary takes over, a removed one hands over."""
        customer = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in formset.initial_forms:
            deleted = row in formset.deleted_forms
            if not (deleted or row.has_changed()):
                continue
            address = Address.objects.get(pk=row.instance.pk)  # as stored, not as edited
            if deleted:
                services.address_delete(address=address)
                formset.deleted_objects.append(address)
            elif save_changes(
                self,
                request,
                address,
                row,
                partial(services.address_update, address=address),
                fields=ADDRESS_FIELDS,
            ):
                formset.changed_objects.append((address, row.changed_data))
        for row in formset.extra_forms:
            if row.has_changed() and row not in formset.deleted_forms:
                fields = {name: row.cleaned_data[name] for name in ADDRESS_FIELDS}
                call_service(
                    self,
                    request,
                    customer,
                    lambda fields=fields: formset.new_objects.append(
                        services.address_create(customer=customer, **fields)
                    ),
                )

    @admin.action(
        description=_("Deactivate selected customers (and their logins)"), permissions=["delete"]
    )
    def deactivate(self, request, queryset):
        for customer in queryset:
            call_service(
                self, request, customer, lambda c=customer: services.customer_deactivate(customer=c)
            )

    def has_delete_permission(self, request, obj=None):
        # Customers are deactivated, never deleted; the action checks customers:delete.
        return obj is None and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class DestinationInline(MapRows, admin.TabularInline):
    model = Destination
    extra = 0
    can_delete = False
    fields = [
        "sequence",
        "line",
        "district",
        "on_map",
        "recipient_name",
        "recipient_phone",
        "weight_kg",
        "length_cm",
        "width_cm",
        "height_cm",
        "distance_km",
        "chargeable_weight_kg",
        "subtotal",
        "status",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # typed apart in django-stubs

    def has_add_permission(self, request, obj=None):
        return False


class NewDestinationInline(MapRows, admin.TabularInline):
    """Drop-offs typed in when staff create an order; priced by the service on save."""

    model = Destination
    extra = 2
    min_num = 1
    max_num = 20
    can_delete = False
    readonly_fields = ["on_map"]
    fields = [
        "line",
        "district",
        "lat",
        "lng",
        "on_map",
        "recipient_name",
        "recipient_phone",
        "weight_kg",
        "length_cm",
        "width_cm",
        "height_cm",
        "description",
    ]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # The service numbers the drop-offs; the form must not ask for the sequence.
        formset.form.base_fields.pop("sequence", None)
        return formset


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = ["provider", "amount", "currency", "status", "external_id", "paid_at", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]  # typed apart in django-stubs

    def has_add_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, label=_("Reason"))


class OrderAddForm(forms.ModelForm):
    """What the service would refuse, caught as form errors before anything is saved."""

    class Meta:
        model = Order
        fields = [
            "customer",
            "service_level",
            "scheduled_for",
            "origin_line",
            "origin_district",
            "origin_lat",
            "origin_lng",
            "notes",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Customer.objects.filter(is_active=True)

    def clean_scheduled_for(self):
        value = self.cleaned_data.get("scheduled_for")
        if value is not None and value < timezone.now() - services.SCHEDULE_TOLERANCE:
            raise forms.ValidationError(_("Must not be in the past."))
        return value


class PaymentReferenceForm(forms.Form):
    reference = forms.CharField(max_length=200, label=_("Receipt or transfer reference"))


class AdjustForm(ReasonForm):
    amount = forms.DecimalField(
        max_digits=10, decimal_places=2, label=_("Amount (negative = discount)")
    )


def _local_midnight(days_from_today: int) -> datetime:
    day = timezone.localdate() + timedelta(days=days_from_today)
    return timezone.make_aware(datetime.combine(day, time.min))


class ScheduledFilter(admin.SimpleListFilter):
    """When orders are scheduled, in local (Lima) days."""

    title = _("scheduled for")
    parameter_name = "scheduled"
    # value → [first day, day after the last) counted from today
    DAYS = {"today": (0, 1), "tomorrow": (1, 2), "next_7_days": (0, 7)}

    def lookups(self, request, model_admin):
        return [
            ("today", _("Today")),
            ("tomorrow", _("Tomorrow")),
            ("next_7_days", _("Today and the next 6 days")),
            ("earlier", _("Before today")),
            ("unscheduled", _("Not scheduled")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "unscheduled":
            return queryset.filter(scheduled_for__isnull=True)
        if value == "earlier":
            return queryset.filter(scheduled_for__lt=_local_midnight(0))
        if value not in self.DAYS:
            raise IncorrectLookupParameters(value)
        first, end = self.DAYS[value]
        return queryset.filter(
            scheduled_for__gte=_local_midnight(first), scheduled_for__lt=_local_midnight(end)
        )


def _run_link(run) -> str:
    url = reverse("admin:fleet_assignment_change", args=[run.pk])
    return format_html('<a href="{}">{}</a>', url, gettext("Run #%(id)s") % {"id": run.pk})


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "customer",
        "status",
        "service_level",
        "scheduled_for",
        "current_run",
        "total",
        "currency",
        "created_at",
    ]
    list_filter = ["status", "service_level", ScheduledFilter, "created_at"]
    search_fields = [
        "id",
        "customer__full_name",
        "customer__email",
        "origin_line",
        "destinations__line",
    ]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    inlines = [DestinationInline, PaymentInline]
    actions = ["cancel_orders", "adjust_price", "record_payment"]
    readonly_fields = [
        "status",
        "runs",
        "legs_total",
        "price_adjustment",
        "adjustment_reason",
        "adjusted_by",
        "total",
        "currency",
        "cancel_reason",
        "cancelled_at",
        "created_by",
        "created_at",
        "updated_at",
        "invoice_number",
        "load",
    ]
    fields = [
        "customer",
        "status",
        "runs",
        "service_level",
        "scheduled_for",
        "origin_line",
        "origin_district",
        "origin_lat",
        "origin_lng",
        "notes",
        "legs_total",
        "price_adjustment",
        "adjustment_reason",
        "adjusted_by",
        "total",
        "currency",
        "load",
        "invoice_number",
        "cancel_reason",
        "cancelled_at",
        "created_by",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        # The runs (fleet's, reached through their relation), newest first, for the
        # list's current run and the page's list of runs: one query for a whole page.
        runs = Order._meta.get_field("assignments").related_model.objects.order_by(
            "-created_at", "-pk"
        )
        return super().get_queryset(request).prefetch_related(Prefetch("assignments", runs))

    @admin.display(description=_("run"))
    def current_run(self, order):
        """The latest run that was not cancelled: the one carrying (or that carried) it."""
        # fleet's AssignmentStatus.CANCELLED, spelt out: orders does not import fleet.
        run = next((r for r in order.assignments.all() if r.status != "cancelled"), None)
        return _run_link(run) if run else "—"

    @admin.display(description=_("runs"))
    def runs(self, order):
        runs = list(order.assignments.all())
        if not runs:
            return gettext("No run yet")
        return format_html_join(
            mark_safe("<br>"),
            "{} ({})",
            ((_run_link(run), run.get_status_display()) for run in runs),
        )

    @admin.display(description=_("weight / chargeable / volume"))
    def load(self, order):
        destinations = list(order.destinations.all())
        weight = sum(d.weight_kg for d in destinations)
        chargeable = sum(d.chargeable_weight_kg for d in destinations)
        volume = sum(d.volume_cm3 or 0 for d in destinations)
        return f"{weight} kg / {chargeable} kg / {volume:.0f} cm³"

    @admin.display(description=_("invoice"))
    def invoice_number(self, order):
        invoice = Invoice.objects.filter(order=order).first()
        return invoice.number if invoice else "—"

    add_fields = [
        "customer",
        "service_level",
        "scheduled_for",
        "origin_line",
        "origin_district",
        "origin_lat",
        "origin_lng",
        "notes",
    ]

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = OrderAddForm
        return super().get_form(request, obj, **kwargs)

    def get_inlines(self, request, obj):
        return [NewDestinationInline] if obj is None else self.inlines

    def save_related(self, request, form, formsets, change):
        if change:
            return super().save_related(request, form, formsets, change)
        # A new order is created whole by the service, with its priced drop-offs.
        destinations = [
            {
                **{
                    k: row[k]
                    for k in ("line", "district", "lat", "lng", "recipient_name", "recipient_phone")
                },
                "package": {
                    "weight_kg": row["weight_kg"],
                    "length_cm": row.get("length_cm"),
                    "width_cm": row.get("width_cm"),
                    "height_cm": row.get("height_cm"),
                    "description": row.get("description", ""),
                },
            }
            for formset in formsets
            for row in formset.cleaned_data
            if row and not row.get("DELETE")
        ]
        data = form.cleaned_data
        order = services.order_create(
            by=request.user,
            customer=data["customer"],
            origin={
                "line": data["origin_line"],
                "district": data["origin_district"],
                "lat": data["origin_lat"],
                "lng": data["origin_lng"],
            },
            destinations=destinations,
            service_level=data["service_level"],
            scheduled_for=data.get("scheduled_for"),
            notes=data.get("notes", ""),
        )
        form.instance.pk = order.pk
        form.instance.id = order.pk
        for formset in formsets:  # the change message reads what the formsets saved
            formset.new_objects = list(order.destinations.all())
            formset.changed_objects, formset.deleted_objects = [], []

    def has_delete_permission(self, request, obj=None):
        return False  # cancelled, never deleted

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not obj.is_editable:
            return list(self.fields)
        return [
            *self.readonly_fields,
            "customer",
            "origin_line",
            "origin_district",
            "origin_lat",
            "origin_lng",
        ]

    def save_model(self, request, obj, form, change):
        if not change:
            return  # created in save_related, once the drop-offs are known
        save_changes(
            self,
            request,
            obj,
            form,
            partial(services.order_update, order=obj, by=request.user),
            fields={"service_level", "scheduled_for", "notes"},
            if_changed=True,
        )

    def _with_form(self, request, queryset, form_class, title, apply):
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                done = sum(
                    call_service(
                        self, request, f"#{order.pk}", lambda o=order: apply(o, form.cleaned_data)
                    )
                    for order in queryset
                )
                self.message_user(request, _("%(count)d order(s) updated.") % {"count": done})
                return None
        else:
            form = form_class()
        return render(
            request,
            "admin/orders/order/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "orders": queryset,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
            },
        )

    @admin.action(description=_("Cancel selected orders"), permissions=["change"])
    def cancel_orders(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            ReasonForm,
            _("Cancel orders"),
            lambda order, data: services.order_cancel(
                order=order, reason=data["reason"], by=request.user
            ),
        )

    @admin.action(
        description=_("Record payment of the exact total (cash, transfer)"), permissions=["change"]
    )
    def record_payment(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            PaymentReferenceForm,
            _("Record payments"),
            lambda order, data: services.payment_record_manual(
                order=order, amount=order.total, reference=data["reference"], by=request.user
            ),
        )

    @admin.action(description=_("Adjust the price of selected orders"), permissions=["change"])
    def adjust_price(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            AdjustForm,
            _("Adjust price"),
            lambda order, data: services.order_adjust_price(
                order=order, amount=data["amount"], reason=data["reason"], by=request.user
            ),
        )


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "order",
        "provider",
        "amount",
        "currency",
        "status",
        "needs_refund",
        "checkout",
        "paid_at",
        "created_at",
    ]
    list_filter = ["status", "provider", "needs_refund"]
    search_fields = ["=order__id", "external_id", "provider_payment_id", "reference"]
    list_select_related = ["order", "checkout"]
    readonly_fields = [f.name for f in Payment._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "order", "ruc", "business_name", "amount", "currency", "issued_at"]
    list_filter = ["issued_at", "currency"]
    date_hierarchy = "issued_at"
    search_fields = ["number", "ruc", "business_name", "=order__id"]
    list_select_related = ["order"]
    readonly_fields = ["number", "order", "amount", "currency", "issued_at", "created_by"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        original = Invoice.objects.get(pk=obj.pk)  # the form has changed `obj` already
        save_changes(self, request, obj, form, partial(services.invoice_update, invoice=original))

    # Deleting, one or a selection, goes through the service: it is audited.
    def delete_model(self, request, obj):
        services.invoice_delete(invoice=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for invoice in queryset:
            services.invoice_delete(invoice=invoice, by=request.user)


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["order", "score", "driver_id", "created_at"]
    list_filter = ["score"]
    readonly_fields = ["order", "driver_id", "score", "comment", "created_at"]

    def has_add_permission(self, request):
        return False

    # Deleting, one or a selection, goes through the service: it is audited.
    def delete_model(self, request, obj):
        services.rating_delete(rating=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for rating in queryset:
            services.rating_delete(rating=rating, by=request.user)


class TariffForm(forms.ModelForm):
    class Meta:
        model = Tariff
        fields = [
            f.name for f in Tariff._meta.fields if f.name not in ("id", "updated_by", "updated_at")
        ]

    def clean_peak_windows(self):
        windows = self.cleaned_data["peak_windows"] or []
        try:
            from datetime import time

            for window in windows:
                time.fromisoformat(window["start"])
                time.fromisoformat(window["end"])
        except (TypeError, KeyError, ValueError) as exc:
            raise forms.ValidationError(_('Use [{"start": "07:00", "end": "09:30"}, …].')) from exc
        return windows


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    form = TariffForm
    readonly_fields = ["updated_at", "updated_by"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect("admin:orders_tariff_change", services.tariff_get().pk)

    def save_model(self, request, obj, form, change):
        save_changes(self, request, obj, form, partial(services.tariff_update, by=request.user))
