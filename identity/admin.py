"""Users, roles and sessions in the Django admin. Changes go through the same services
as the API, so sessions are revoked and profile hooks fire either way."""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.contrib.auth.forms import ReadOnlyPasswordHashField, SetPasswordForm
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from identity import selectors, services
from identity.forms import ThrottledSignInMixin, throttled_status
from identity.models import Role, RolePermission, User, UserSession
from rappi.admin import save_changes
from rappi.api.permissions import DELETE, WRITE
from rappi.errors import DomainError


class AdminLoginForm(ThrottledSignInMixin, AdminAuthenticationForm):
    """The admin's sign-in spends the same per-IP and per-account budgets as the API's."""


def admin_login(request, extra_context=None):
    """The admin's login page, answering 429 (with Retry-After) while throttled."""
    response = admin.site.login(request, extra_context)
    throttled_status(response, (getattr(response, "context_data", None) or {}).get("form"))
    return response


admin.site.site_header = _("Rappi back office")
admin.site.site_title = _("Rappi")
admin.site.index_title = _("Administration")
admin.site.login_form = AdminLoginForm
admin.site.unregister(Group)


class UserCreationForm(forms.ModelForm):
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(
        label=_("Password (again)"), widget=forms.PasswordInput, strip=False
    )

    class Meta:
        model = User
        fields = ["email", "full_name", "phone", "role", "is_active"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        elif cleaned.get("password1"):
            user = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                validate_password(cleaned["password1"], user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class UserChangeForm(forms.ModelForm):
    password = ReadOnlyPasswordHashField(
        label=_("Password"), help_text=_("Passwords are stored hashed (Argon2) and never shown.")
    )

    class Meta:
        model = User
        fields = ["email", "full_name", "phone", "role", "is_active", "password"]


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ["email", "full_name", "role", "is_active", "created_at", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "full_name", "phone"]
    ordering = ["email"]
    list_select_related = ["role"]
    readonly_fields = ["created_at", "updated_at", "last_login", "active_sessions"]
    actions = ["deactivate_users"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    None,
                    {
                        "fields": [
                            "email",
                            "full_name",
                            "phone",
                            "role",
                            "is_active",
                            "password1",
                            "password2",
                        ]
                    },
                )
            ]
        return [
            (None, {"fields": ["email", "full_name", "phone", "role", "is_active", "password"]}),
            (
                _("Activity"),
                {"fields": ["created_at", "updated_at", "last_login", "active_sessions"]},
            ),
        ]

    @admin.display(description=_("active sessions"))
    def active_sessions(self, user):
        sessions = selectors.session_list_for(user=user)
        if not sessions:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} · {} · {}</li>",
                (
                    (s.last_used_at.strftime("%Y-%m-%d %H:%M"), s.ip or "?", s.user_agent[:60])
                    for s in sessions
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        if change:
            save_changes(
                self,
                request,
                obj,
                form,
                partial(services.user_update, user=obj, by=request.user),
                fields=(*services.USER_FIELDS, "is_active"),
            )
            return
        try:
            created = services.user_create(
                email=obj.email,
                password=form.cleaned_data["password1"],
                full_name=obj.full_name,
                phone=obj.phone,
                role=obj.role,
                is_active=obj.is_active,
                by=request.user,
            )
            obj.pk = created.pk
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def get_urls(self):
        return [
            path(
                "<id>/password/",
                self.admin_site.admin_view(self.reset_password),
                name="identity_user_password_change",
            ),
            *super().get_urls(),
        ]

    def reset_password(self, request, id):
        """Set a user's password (the link under the hashed password); through the service,
        so the user's sessions end and nobody resets a more powerful user's password."""
        user = self.get_object(request, unquote(id))
        if user is None:
            raise Http404
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        form = SetPasswordForm(user, request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.user_update(
                    user=user, by=request.user, password=form.cleaned_data["new_password1"]
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.log_change(request, user, _("Password reset."))
                self.message_user(request, _("Password changed; the user's sessions ended."))
                return HttpResponseRedirect(reverse("admin:identity_user_change", args=[user.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Set password: %s") % user.email,
            "adminForm": helpers.AdminForm(form, [(None, {"fields": list(form.base_fields)})], {}),
            "form": form,
            "form_url": "",
            "is_popup": False,
            "add": True,
            "change": False,
            "has_delete_permission": False,
            "has_change_permission": True,
            "has_absolute_url": False,
            "opts": self.opts,
            "original": user,
            "save_as": False,
            "show_save": True,
        }
        return TemplateResponse(request, "admin/auth/user/change_password.html", context)

    def has_deactivate_permission(self, request) -> bool:
        return request.user.has_permission("users", DELETE)

    @admin.action(
        description=_("Deactivate selected users and revoke their sessions"),
        permissions=["deactivate"],
    )
    def deactivate_users(self, request, queryset):
        done = 0
        for user in queryset:
            try:
                services.user_deactivate(user=user, by=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{user}: {exc.message}", messages.ERROR)
        self.message_user(request, _("%(count)d user(s) deactivated.") % {"count": done})

    def has_delete_permission(self, request, obj=None):
        return False  # users are deactivated, never deleted


def _codes(grants) -> list[str]:
    return [f"{grant.resource}:{grant.action}" for grant in grants]


class RolePermissionInline(admin.TabularInline):
    model = RolePermission
    extra = 1


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "is_system", "permission_list"]
    search_fields = ["name", "description"]
    readonly_fields = ["is_system", "created_at", "updated_at"]
    inlines = [RolePermissionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("permissions")

    @admin.display(description=_("permissions"))
    def permission_list(self, role):
        return ", ".join(f"{p.resource}:{p.action}" for p in role.permissions.all())

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_system:
            return [*self.readonly_fields, "name"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.is_system or obj.users.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        # Through the services, so the API's rules hold here too: no renaming seeded roles,
        # no managing a role more powerful than one's own, nor one's own role.
        try:
            if change:
                request.role_grants_before = _codes(RolePermission.objects.filter(role=obj))
                services.role_update(
                    role=obj, by=request.user, name=obj.name, description=obj.description
                )
            else:
                request.role_grants_before = []
                obj.pk = services.role_create(
                    name=obj.name, description=obj.description, by=request.user
                ).pk
        except DomainError as exc:
            request.role_refused = True
            self.message_user(request, exc.message, messages.ERROR)

    def save_related(self, request, form, formsets, change):
        if getattr(request, "role_refused", False):
            return
        super().save_related(request, form, formsets, change)
        role = form.instance
        edited = _codes(RolePermission.objects.filter(role=role))
        try:
            services.role_set_permissions(role=role, permissions=edited, by=request.user)
        except DomainError as exc:
            # The inline rows were already written: put the role's grants back as they were.
            services.role_set_permissions(
                role=role, permissions=request.role_grants_before, by=None
            )
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "last_used_at", "expires_at", "ip", "revoked_at"]
    list_filter = ["revoked_reason"]
    search_fields = ["user__email", "ip", "user_agent"]
    list_select_related = ["user"]
    # Not the public id: with the signing key it names a live session in a token.
    readonly_fields = [f.name for f in UserSession._meta.fields if f.name != "public_id"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_permission("users", WRITE)

    @admin.action(description=_("Revoke selected sessions"), permissions=["revoke"])
    def revoke(self, request, queryset):
        for session in queryset.select_related("user__role"):
            try:
                services.session_revoke_for(session=session, by=request.user)
            except DomainError as exc:
                self.message_user(request, f"{session.user}: {exc.message}", messages.ERROR)
