"""Tracking's one PostgreSQL table: the generation of the geofences each ping weighs its
fixes against, so a process may keep them in memory (`tracking.geofences.weighing_zones`)
and read whether they changed with the run it loads for the ping, in the same query."""

import secrets

from django.db import models

# The scope of the zones staff draw; a run's corridor has the run's id as its scope.
ZONES_SCOPE = 0


class GeofenceGeneration(models.Model):
    """Changed on every write of a scope's geofences (after the MongoDB write). A new random
    number, not a counter: a counter rolled back with a transaction (or a test's) or
    restored from a backup could come back to a value a process has cached."""

    scope = models.BigIntegerField(
        primary_key=True, help_text="0: the zones staff draw; a run's id: its corridor"
    )
    generation = models.BigIntegerField()

    def __str__(self) -> str:
        return f"geofences of scope {self.scope}: generation {self.generation}"

    @classmethod
    def bump(cls, *scopes: int) -> None:
        """A new generation for each scope, in one statement (an upsert)."""
        GeofenceGeneration.objects.bulk_create(
            [
                GeofenceGeneration(scope=scope, generation=secrets.randbits(62))
                for scope in set(scopes)
            ],
            update_conflicts=True,
            unique_fields=["scope"],
            update_fields=["generation"],
        )
