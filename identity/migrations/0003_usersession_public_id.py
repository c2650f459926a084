"""Sessions get a random public id for the tokens' `sid`. Existing rows get one each (a
column default would give every row the same value); tokens issued before carry the row
id and are refused from now on, so their holders sign in again once."""

from django.db import migrations, models

import identity.models


def give_each_session_its_own(apps, schema_editor):
    UserSession = apps.get_model("identity", "UserSession")
    sessions = list(UserSession.objects.filter(public_id__isnull=True).only("pk"))
    for session in sessions:
        session.public_id = identity.models.new_session_public_id()
    UserSession.objects.bulk_update(sessions, ["public_id"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0002_seed_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="usersession",
            name="public_id",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(give_each_session_its_own, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="usersession",
            name="public_id",
            field=models.CharField(
                default=identity.models.new_session_public_id,
                editable=False,
                max_length=32,
                unique=True,
            ),
        ),
    ]
