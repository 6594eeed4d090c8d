"""CloudWatch GetMetricData fast enough for the demo and the tests: moto's own scans
every stored point per query and ignores NextToken (see sandbox.metrics_seed)."""

from sandbox.metrics_seed import install_cloudwatch_speedups

install_cloudwatch_speedups()
