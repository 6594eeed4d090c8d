"""Test builders, one module per app, in one place.

* ``estate``: mirror rows (accounts, instances, clusters, ... users, a demo estate).
* ``guard``: mirror rows that pass every posture rule, for rule tests.
* ``sandbox``: small estates made in the sandbox through boto3, for sync tests.
* ``operations``: resources made in the sandbox for operation kinds, their mirroring
  (the columns the kinds read), users by role and the mutating-call log.
"""
