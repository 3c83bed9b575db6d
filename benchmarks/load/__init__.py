"""The service's load run (``benchmarks/load/run.sh``): locust against ``bdcert serve``."""
