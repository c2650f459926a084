"""Fleet writes, one module per part of the domain: `vehicles`, `drivers`, `runs` (with
finishing and reopening), `incidents`, `routes` (and stops), `deliveries` (proof of
delivery), and `locks` (the row locks they all take, in one order). Callers import
them from here: `from fleet import services; services.assignment_create(...)`."""

from fleet.services.deliveries import Upload, destination_deliver, destination_fail
from fleet.services.drivers import (
    driver_create,
    driver_deactivate,
    driver_link_user,
    driver_reactivate,
    driver_set_vehicle,
    driver_update,
)
from fleet.services.incidents import (
    incident_delete,
    incident_evidence_add,
    incident_evidence_delete,
    incident_report,
    incident_update,
)
from fleet.services.locks import assignments_lock_for_order
from fleet.services.routes import (
    PLAN_WITHOUT_RUN_KEPT,
    route_optimize,
    route_plan,
    route_plan_for_orders,
    route_resequence,
    stop_visit,
)
from fleet.services.runs import (
    assignment_cancel,
    assignment_create,
    assignment_delete,
    assignment_finish,
    assignment_order_cancelled,
    assignment_reopen,
    assignment_start,
    assignments_delete,
    order_close_if_done,
    run_documents_purge,
)
from fleet.services.vehicles import vehicle_create, vehicle_deactivate, vehicle_update

__all__ = [
    "PLAN_WITHOUT_RUN_KEPT",
    "Upload",
    "assignment_cancel",
    "assignment_create",
    "assignment_delete",
    "assignment_finish",
    "assignment_order_cancelled",
    "assignment_reopen",
    "assignment_start",
    "assignments_delete",
    "assignments_lock_for_order",
    "destination_deliver",
    "destination_fail",
    "driver_create",
    "driver_deactivate",
    "driver_link_user",
    "driver_reactivate",
    "driver_set_vehicle",
    "driver_update",
    "incident_delete",
    "incident_evidence_add",
    "incident_evidence_delete",
    "incident_report",
    "incident_update",
    "order_close_if_done",
    "route_optimize",
    "route_plan",
    "route_plan_for_orders",
    "route_resequence",
    "run_documents_purge",
    "stop_visit",
    "vehicle_create",
    "vehicle_deactivate",
    "vehicle_update",
]
