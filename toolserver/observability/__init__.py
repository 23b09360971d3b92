"""What the server tells its operators: structured logs (:mod:`.logs`) and Prometheus metrics
(:mod:`.metrics`)."""
