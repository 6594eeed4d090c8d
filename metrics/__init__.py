"""CloudWatch metrics mirrored into Estate and charted (issue 7).

Public interface:

* ``metrics.sync.sync_metrics(*, account_ids=None, regions=None) -> dict`` — fetch new
  points for every enabled account/region and prune; ``metrics.tasks.sync_metrics_task``
  runs it every ``METRICS_SYNC_INTERVAL_SECONDS`` (beat entry "sync-metrics").
* Templates: ``{% load metrics_tags %}`` then ``{% metric_charts object %}`` (detail
  pages), ``{% sparkline row rows %}`` (lists; rows may be model rows or the inventory's
  dicts), ``{% metrics_past_threshold %}`` (overview), ``{% metric_assets %}`` (head).
* ``metrics.queries.past_threshold(limit=20)`` and ``arns_past_threshold() -> set[str]``.
* Thresholds: ``settings.METRICS_THRESHOLDS``, overridden per account by
  ``metrics.models.AccountThresholds`` (admin).
* Sandbox: ``sandbox.metrics_seed.install_cloudwatch_speedups()`` and
  ``DemoPublisher(endpoint_url).start()`` in the sandbox process.
"""
