"""Fleet and dispatch: vehicles, drivers, runs (assignments), routes and stops, proofs of
delivery, incidents."""
