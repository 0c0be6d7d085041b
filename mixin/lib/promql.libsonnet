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

  // A recording rule.
  record(config, name, text):: { record: name, expr: $.expr(config, text) },

  // A recording rule for a configuration value: the live value of any
  // replica wins; only while no replica of the job is up is the value last
  // seen in `memoryLong` used. That bridges restarts and scrape failures
  // without masking a config change (removing it stops its alert at once
  // while any replica is up). max across replicas if they disagree during a
  // rollout.
  configValue(config, name, metric)::
    self.record(config, name, std.strReplace(|||
      (
        max %(without)s (METRIC{%(sel)s})
      )
      or
      (
          max %(without)s (
            last_over_time(METRIC{%(sel)s}[%(long)s])
          )
        unless on ()
          (up{%(sel)s} == 1)
      )
    |||, 'METRIC', metric)),

  // The series of `metric` from the replica(s) whose `timestamp` equals
  // `newest` (the recording rule of its maximum across replicas): what the
  // newest report, success or failure said, wherever it landed. `and` keeps
  // only the replica holding it (instance and pod included; `matching`
  // names labels only `metric` has); max if two replicas tie. With
  // `remember`, a vanished replica's series count for memoryLong.
  fromNewest(config, metric, timestamp, newest, remember=true, matching='')::
    local series(m) =
      if remember then 'last_over_time(%s{%%(sel)s}[%%(long)s])' % m else '%s{%%(sel)s}' % m;
    local text = |||
      max %(without)s (
          METRIC
        andMATCHING
          (
              TIMESTAMP
            == %(ignoring)s group_left ()
              NEWEST
          )
      )
    |||;
    local fill(t, pairs) = std.foldl(function(acc, p) std.strReplace(acc, p[0], p[1]), pairs, t);
    $.expr(config, fill(text, [
      ['METRIC', series(metric)],
      ['MATCHING', matching],
      ['TIMESTAMP', series(timestamp)],
      ['NEWEST', newest],
    ])),
}
