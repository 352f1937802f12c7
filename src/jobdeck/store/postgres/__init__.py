"""The PostgreSQL store: any number of processes on any number of hosts share one database.

* ``store.py`` — :class:`PostgresStore`, the Store protocol (``store/base.py``): the job,
  feed and token verbs; one round trip per verb.
* ``schedules.py`` — the ScheduleStore verbs (cron schedules and executions), mixed
  into :class:`PostgresStore`.
* ``database.py`` — the psycopg 3 async pool, migrations, bounded retries on connection
  failures, the write every verb shares, the feed horizon and coalesced NOTIFYs.
* ``rows.py`` — rows as domain records, new records as statement parameters.
* ``queries.sql`` — every statement, as ``-- name: xyz`` blocks (``queries.py`` loads
  them once). The ``feed_horizon`` and ``claim`` blocks explain the two ordering
  arguments: a follower never finds a new record below what it read, and no job is
  claimed twice; ``derived_events`` why a job's history shows each attempt's start
  and completion exactly once, though a worker's claim and completion store neither.
* ``migrations/NNNN_*.sql`` — the schema, applied in order by ``open()`` under an
  advisory lock and recorded in ``jobdeck_schema_version``. 0002 holds the jobs trigger
  that mirrors a cron job into its execution in the job's own transaction; 0007 the
  feed horizon's functions.
* ``listener.py`` — LISTEN/NOTIFY on a dedicated, self-healing connection, turned into
  the store's ``signals`` so waiters in this process wake on other processes' writes.
"""
