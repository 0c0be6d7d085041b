// Small helpers for writing PromQL from `_config`.
{
  // `a, b` from ['a', 'b'].
  labelList(labels):: std.join(', ', labels),

  // `without (instance, pod)`-style clause, optionally with more labels.
  without(config, extra=[]):: 'without (%s)' % self.labelList(config.haLabels + extra),

  // `ignoring (instance, pod)`.
  ignoring(config):: 'ignoring (%s)' % self.labelList(config.haLabels),

  // The default runbook of an alert: the README anchor named after it.
  runbook(config, alert):: config.runbookUrlBase + std.asciiLower(alert),
}
