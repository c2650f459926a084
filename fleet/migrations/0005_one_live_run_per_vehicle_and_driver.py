from django.db import migrations, models
from django.utils import timezone

LIVE = ["assigned", "in_progress"]


class DuplicateRunsUnderWay(Exception):
    pass


def cancel_duplicate_live_runs(apps, schema_editor):
    """Before one live run per vehicle and per driver is enforced, undo what the earlier
    rules let happen: where a vehicle or a driver is on several live runs, the one under
    way (else the oldest) is kept and each other *assigned* one is cancelled as
    `assignment_cancel` would (its orders back to pending, its stops skipped, its driver
    freed when on no other live run). Two runs under way for one vehicle or driver are not
    undone here: the migration stops and names them, for staff to finish one first."""
    Assignment = apps.get_model("fleet", "Assignment")
    Driver = apps.get_model("fleet", "Driver")
    Order = apps.get_model("orders", "Order")
    Stop = apps.get_model("fleet", "Stop")
    cancelled, stuck = [], []
    for field in ("vehicle_id", "driver_id"):
        groups: dict[int, list] = {}
        for run in Assignment.objects.filter(status__in=LIVE).order_by("created_at", "id"):
            groups.setdefault(getattr(run, field), []).append(run)
        for runs in groups.values():
            runs.sort(key=lambda run: run.status != "in_progress")  # stable: oldest first
            for run in runs[1:]:
                if run.status == "in_progress":
                    stuck.append(run.pk)
                    continue
                Assignment.objects.filter(pk=run.pk).update(
                    status="cancelled",
                    cancel_reason="another live run of its vehicle or driver",
                    finished_at=timezone.now(),
                )
                Order.objects.filter(assignments=run.pk, status="assigned").update(status="pending")
                Stop.objects.filter(route__assignment=run.pk, status="pending").update(
                    status="skipped"
                )
                if not Assignment.objects.filter(driver_id=run.driver_id, status__in=LIVE).exists():
                    Driver.objects.filter(pk=run.driver_id, availability="busy").update(
                        availability="available"
                    )
                cancelled.append(run.pk)
    if stuck:
        raise DuplicateRunsUnderWay(
            "Runs under way share a vehicle or a driver with another run under way: "
            f"{sorted(set(stuck))}. Finish all but one of them (staff: POST …/finish), then "
            "migrate again."
        )
    if cancelled:
        print(f"\n  Cancelled runs sharing a vehicle or driver with a live run: {cancelled}")  # noqa: T201


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0004_routes"),
    ]

    operations = [
        migrations.RunPython(cancel_duplicate_live_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="assignment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["assigned", "in_progress"])),
                fields=("vehicle",),
                name="assignment_one_live_run_per_vehicle",
            ),
        ),
        migrations.AddConstraint(
            model_name="assignment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["assigned", "in_progress"])),
                fields=("driver",),
                name="assignment_one_live_run_per_driver",
            ),
        ),
    ]
