"""Benchmarks of airflow-provider-dataiku: triggerer scale, polling cost and latency, DAG-parse import
cost and emulator capacity, run against the DSS emulator in a separate process.

Run everything with ``python -m benchmarks`` (``--smoke`` for small sizes, ``--only scale,polling``,
``--markdown FILE`` to write the table). Benchmarks print numbers; they are not timed tests.
"""
