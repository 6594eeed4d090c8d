"""The sandbox: an embedded fake AWS for the demo and the tests (moto in server mode).

* ``sandbox.server.SandboxServer(port=0).start()`` — moto on 127.0.0.1 in a thread of
  this process with every module of ``sandbox.extensions`` loaded; ``.url``,
  ``.reset()`` (forgets resources, extension state and faults), ``.stop()``.
* ``server.faults`` (``sandbox.faults``) — ``throttle(burst=300, rate=12.0,
  service="rds")`` enforces AWS's API token bucket per account and region;
  ``deny(account_id=, region=, service=, action_prefix=)`` answers AccessDenied;
  ``clear()``. Also over HTTP: ``GET/POST <url>/estate-sandbox/faults``.
* ``sandbox.extensions`` — the APIs and semantics moto 5.2.5 lacks, each in its own
  module, state kept on moto's backends (cleared by moto's reset).
* ``sandbox.seed.seed_demo(url)`` — the demo estate (two accounts, three regions, every
  kind, deliberate problems); ``seed_scale(n)`` — n more instances and n/10 clusters
  straight into moto's backends (benchmarks).
* ``sandbox.accounts.register_demo_accounts()`` — the demo accounts as
  ``estate.models.Account`` rows.
* ``manage.py sandbox [--port 5055] [--seed demo|none] [--scale N] [--throttle]
  [--sync]`` — all of the above, serving until SIGINT/SIGTERM.

Product code never imports this package (or moto): it reaches the sandbox through
``AWS_ENDPOINT_URL`` only.
"""
