// Small helpers for writing PromQL from `_config`.
{
  // `a, b` from ['a', 'b'].
  labelList(labels):: std.join(', ', labels),

  // `without (instance, pod)`-style clause, optionally with more labels.
  without(config, extra=[]):: 'without (%s)' % self.labelList(config.haLabels + extra),

  // `ignoring (instance, pod)`.
  ignoring(config):: 'ignoring (%s)' % self.labelList(config.haLabels),

  // The placeholders every rule's PromQL text may use, filled from the
  // config: %(sel)s the selector, %(without)s / %(ignoring)s the HA
  // clauses, %(long)s / %(short)s the memory windows.
  params(config):: {
    sel: config.deadmanSelector,
    without: $.without(config),
    ignoring: $.ignoring(config),
    long: config.memoryLong,
    short: config.memoryShort,
  },

  // PromQL text with the placeholders above (and any in `extra`) filled in.
  expr(config, text, extra={}):: std.format(text, self.params(config) + extra),

  // The default runbook of an alert: the README anchor named after it.
  runbook(config, alert):: config.runbookUrlBase + std.asciiLower(alert),
}
