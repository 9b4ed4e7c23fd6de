"""The DSS wire protocol, sans-IO: requests (``endpoints``), procedures, polling schedules, run models."""
