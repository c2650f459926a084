"""Reports and KPIs: figures computed in the database over a period of America/Lima days.

A report is declared once in `registry` (its query, its response shape, how it is built,
its CSV table) and served by the API (`api`), the console (`views`) and the benchmark
alike. The building blocks: `periods` (the period, its buckets), `sql` (database
functions both backends answer), `tables` (CSV). The reports themselves are grouped by
what they measure: `commerce`, `delivery`, `operations`, `documents`."""
