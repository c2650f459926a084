"""Demo logins (docs/domain.md, Operations): one per seeded role, password `demo12345`."""

from identity import catalogue, services
from identity.models import User

DEMO_PASSWORD = "demo12345"  # noqa: S105 - published demo credential

DEMO_USERS = [
    ("admin@rappi.pe", "Ana Admin", catalogue.ADMIN, "+51 954 000 001"),
    ("dispatcher@rappi.pe", "Diego Despacho", catalogue.DISPATCHER, "+51 954 000 002"),
    ("driver1@rappi.pe", "Carlos Quispe", catalogue.DRIVER, "+51 954 000 101"),
    ("driver2@rappi.pe", "Rosa Mamani", catalogue.DRIVER, "+51 954 000 102"),
    ("driver3@rappi.pe", "Jorge Huamán", catalogue.DRIVER, "+51 954 000 103"),
    ("customer1@rappi.pe", "Lucía Fernández", catalogue.CUSTOMER, "+51 954 000 201"),
    ("customer2@rappi.pe", "Textiles Yanahuara SAC", catalogue.CUSTOMER, "+51 954 000 202"),
]


def seed(*, reset: bool, stdout) -> None:
    """Create missing demo logins; with `reset`, restore their password, role and state."""
    services.roles_seed()
    for email, full_name, role, phone in DEMO_USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            # The demo password is short on purpose: strength rules apply to real sign-ups.
            services.user_create(
                email=email,
                password=DEMO_PASSWORD,
                full_name=full_name,
                phone=phone,
                role=role,
                check_password_strength=False,
                by=None,
            )
        elif reset:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            services.user_update(user=user, by=None, role=role, is_active=True, full_name=full_name)
    stdout.write(f"identity: {len(catalogue.SEEDED_ROLES)} roles, {len(DEMO_USERS)} demo logins")
    stdout.write(f"demo logins (password {DEMO_PASSWORD}): " + ", ".join(e for e, *_ in DEMO_USERS))
