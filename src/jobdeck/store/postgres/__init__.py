"""The PostgreSQL store: any number of processes on any number of hosts share one database.

* ``store.py`` — :class:`PostgresStore`, the Store protocol (``store/base.py``) on a
  psycopg 3 async pool; one pipelined round trip per verb; bounded retries on
  connection failures.
* ``queries.sql`` — every statement, as ``-- name: xyz`` blocks (``queries.py`` loads
  them once). The ``feed_lock`` and ``claim`` blocks explain the two ordering
  arguments: seqs commit in order, and no job is claimed twice.
* ``migrations/NNNN_*.sql`` — the schema, applied in order by ``open()`` under an
  advisory lock and recorded in ``jobdeck_schema_version``.
* ``listener.py`` — LISTEN/NOTIFY on a dedicated, self-healing connection, turned into
  the store's ``signals`` so waiters in this process wake on other processes' writes.
"""
