import factory
from rest_framework.test import APIClient

from identity import services
from identity.models import Role, User

PASSWORD = "s3cure-Passw0rd!"


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"role-{n}")
    description = "A custom role"

    @factory.post_generation
    def grants(role, create, extracted, **kwargs):
        if create and extracted is not None:
            services.role_set_permissions(role=role, permissions=list(extracted), by=None)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.pe")
    full_name = factory.Faker("name", locale="es")
    phone = "+51 999 000 000"
    is_active = True

    class Params:
        role_name = None

    @factory.lazy_attribute
    def role(self):
        return Role.objects.get(name=self.role_name or "customer")

    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or PASSWORD)
        if create:
            user.save(update_fields=["password"])


def tokens_for(user: User, *, user_agent: str = "pytest", ip: str = "127.0.0.1") -> dict:
    return services.session_open(
        user=user, client=services.ClientInfo(user_agent=user_agent, ip=ip)
    )


def signed_in_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['access']}")
    return client
