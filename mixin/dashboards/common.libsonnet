// What the overview and the check dashboard share: titles and links, the
// building blocks of their queries, and the states they compute (a state's
// number in the query and its name and colour in the mapping come from one
// list, so the two cannot drift apart).
local g = import '../lib/grafana.libsonnet';
local promql = import '../lib/promql.libsonnet';

// A state is [number, name, colour, condition]: the query is
//   (cond1) * 0 + n1 or (cond2) * 0 + n2 or ...
// so the first condition that holds wins (`or` keeps the left side's series).
local stateQuery(states, parenthesize) = std.join('\nor\n', [
  local e = s[3] + ' * 0' + (if s[0] != 0 then ' + %d' % s[0] else '');
  if parenthesize then '(' + e + ')' else e
  for s in states
]);

local stateMapping(states) = g.valueMap([[std.toString(s[0]), s[1], s[2]] for s in states]);

{
  titles:: {
    overview: 'deadman / Overview',
    check: 'deadman / Check',
  },

  // The path of one of the dashboards; links between them use the uids
  // from _config.
  url(config, name):: '/d/%s/%s' % [config.dashboardUids[name], g.slug(self.titles[name])],

  // The label matchers of every query: _config.dashboardSelector, plus
  // `extra` (the check dashboard adds check="$check").
  selector(config, extra=[])::
    local sel = config.dashboardSelector;
    assert std.length(std.findSubstr('job=~"$job"', sel)) > 0 :
           'dashboardSelector %s must contain job=~"$job": the job variable would do nothing' % sel;
    std.join(', ', [sel] + extra),

  // Query building blocks for the matchers `sel`.
  queries(config, sel):: {
    local q = self,

    // `metric{sel}`.
    series(metric):: '%s{%s}' % [metric, sel],

    // `without (instance, pod)` (from _config.haLabels), with more labels
    // to drop. Every per-check quantity is combined across replicas as the
    // rules do ("High availability" in README.md): a check pinged on any
    // replica is not late. Counters are rate()d or increase()d per replica
    // first, so that one replica's restart is not seen as a drop.
    without(extra=[]):: promql.without(config, extra),

    // A per-check gauge combined across replicas: timestamps, deadlines
    // and configuration values with max (min for "earliest"), window
    // record counts with sum (each replica counts only its own pings).
    max(metric):: 'max %s (%s)' % [q.without(), q.series(metric)],
    min(metric):: 'min %s (%s)' % [q.without(), q.series(metric)],
    sum(metric):: 'sum %s (%s)' % [q.without(), q.series(metric)],

    // Adds the labels of deadman_check_info to every series of `expr`
    // (topk: one info series per job and check, even while replicas
    // disagree on its labels during a config change).
    withInfo(expr, labels)::
      '(\n%s\n)\n* on(job, check) group_left(%s)\ntopk by (job, check) (1, %s)'
      % [expr, std.join(', ', labels), q.max('deadman_check_info')],

    lastSuccess:: q.max('deadman_check_last_success_timestamp_seconds'),
    lastFailure:: q.max('deadman_check_last_failure_timestamp_seconds'),
    deadline:: q.max('deadman_check_deadline_timestamp_seconds'),
    runsInProgress:: q.max('deadman_check_runs_in_progress'),
    lastDuration:: q.max('deadman_check_last_duration_seconds'),
    maxRuntime:: q.max('deadman_check_max_runtime_seconds'),
    records:: q.sum('deadman_check_window_records'),
    minRecords:: q.max('deadman_check_window_min_records'),
    maxRecords:: q.max('deadman_check_window_max_records'),
    due:: q.max('deadman_check_window_due_timestamp_seconds'),
    expiry:: q.max('deadman_expiry_timestamp_seconds'),
    warnBefore:: q.max('deadman_expiry_warn_before_seconds'),
    // Recorded by the rules (rules/rules.libsonnet): what
    // DeadmanCheckVolumeDrop compares.
    recordsLastHour:: q.series('job_check:deadman_check_records:increase1h'),
    recordsLastWeek:: q.series('job_check:deadman_check_records:increase1h_offset1w'),

    // The check states, first match wins. "new": never succeeded (the last
    // success timestamp is 0) and not late.
    checkStates:: [
      [5, 'failing', 'red', '(%s > %s)' % [q.lastFailure, q.lastSuccess]],
      [4, 'late', 'orange', '(%s < time())' % q.deadline],
      [3, 'running', 'purple', '(%s > 0)' % q.runsInProgress],
      [2, 'new', 'blue', '(%s == 0)' % q.lastSuccess],
      [1, 'up', 'green', q.lastSuccess],
    ],
    checkState:: stateQuery(q.checkStates, true),

    // The volume states: low and high are what DeadmanCheckVolumeLow and
    // DeadmanCheckVolumeHigh alert on; filling is below the minimum before
    // it is due.
    volumeStates:: [
      [4, 'low', 'red', '((%s < %s) and (%s <= time()))' % [q.records, q.minRecords, q.due]],
      [3, 'high', 'orange', '(%s > %s)' % [q.records, q.maxRecords]],
      [2, 'filling', 'blue', '(%s < %s)' % [q.records, q.minRecords]],
      [1, 'ok', 'green', q.records],
    ],
    volumeState:: stateQuery(q.volumeStates, false),

    // The expiry states: expired is DeadmanExpired, expiring (inside
    // warn_before) DeadmanExpirySoon. A declared expiry that no run has
    // reported yet has warn_before but no timestamp: "not reported".
    expiryStates:: [
      [3, 'expired', 'red', '(%s <= time())' % q.expiry],
      [2, 'expiring', 'orange', '(%s - %s <= time())' % [q.expiry, q.warnBefore]],
      [1, 'ok', 'green', q.expiry],
      [0, 'not reported', 'text', q.warnBefore],
    ],
    expiryState:: stateQuery(q.expiryStates, false),
  },

  stateMapping(states):: stateMapping(states),

  // ---- table columns

  hidden(field):: g.byName(field, [g.prop('custom.hidden', true)]),

  // A `State` column coloured by the states' mapping.
  stateColumn(states, width):: g.byName('State', [
    g.prop('mappings', [stateMapping(states)]),
    g.prop('unit', 'none'),
    g.prop('custom.cellOptions', { type: 'color-background', mode: 'basic' }),
    g.prop('custom.width', width),
  ]),

  // The `Check` column of the overview's tables links to the check
  // dashboard, keeping the datasource, the row's job and the time range.
  checkColumn(config):: g.byName('Check', [
    g.prop('links', [{
      title: 'Open check dashboard',
      url: $.url(config, 'check')
           + '?${datasource:queryparam}&var-job=${__data.fields.job}&var-check=${__value.raw}&${__url_time_range}',
    }]),
    g.prop('custom.width', 220),
  ]),

  runbookLink:: { title: 'Open runbook', url: '${__value.raw}', targetBlank: true },
}
