"""Old home of the JUnit report reading (:mod:`dss_provider.operators.junit`)."""

from dss_provider.operators.junit import MAX_LOGGED_CASES, log_report, parse_junit

__all__ = ["MAX_LOGGED_CASES", "log_report", "parse_junit"]
