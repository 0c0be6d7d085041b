// deadman / Overview: every check at a glance.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'deadman-overview.json':
      local config = $._config;
      local sel = common.selector(config);
      local q = common.queries(config, sel);

      // A count of checks that is 0, not "no data", when none match.
      local count(expr) = 'count(%s) or vector(0)' % expr;

      local summary = g.row('Summary', [
        g.stat(
          'Configured checks',
          'Number of configured checks (deadman_checks).',
          'none',
          ['sum(%s)' % q.max('deadman_checks')],
          noValue='0',
        ),
        g.stat(
          'Late',
          'Checks whose deadline has passed: time() > deadline.',
          'none',
          [count('%s < time()' % q.deadline)],
          thresholds=g.thresholds('green', [[1, 'red']]),
          colorMode='background',
        ),
        g.stat(
          'Failing',
          'Checks whose last failure is newer than their last success.',
          'none',
          [count('%s > %s' % [q.lastFailure, q.lastSuccess])],
          thresholds=g.thresholds('green', [[1, 'red']]),
          colorMode='background',
        ),
        g.stat(
          'Running',
          'Checks with at least one started run that has not finished.',
          'none',
          [count('%s > 0' % q.runsInProgress)],
          thresholds=g.thresholds('purple'),
        ),
        g.stat(
          'New',
          'Checks that never succeeded and are not late yet.',
          'none',
          [count('(%s == 0) and (%s >= time())' % [q.lastSuccess, q.deadline])],
          thresholds=g.thresholds('blue'),
        ),
        g.stat(
          'Config reload',
          'deadman_config_last_reload_successful, worst replica.',
          'none',
          ['min(%s)' % q.series('deadman_config_last_reload_successful')],
          thresholds=g.thresholds('red', [[1, 'green']]),
          colorMode='background',
          mappings=[g.valueMap([['0', 'FAILED', 'red'], ['1', 'OK', 'green']])],
          noValue='no data',
        ),
      ]);

      local checks = g.row('Checks', [
        g.table(
          'Checks',
          'State computed from the gauges, first match wins: failing (last failure newer than last success), late (time() > deadline), running (runs in progress > 0), new (never succeeded, not late), up. Click a check for its dashboard, a runbook to open it.',
          'none',
          [
            q.withInfo(q.checkState, ['owner', 'team', 'severity', 'runbook_url', 'schedule']),
            'time() - %s' % q.lastSuccess,
            // dateTime units take milliseconds.
            '%s * 1000' % q.deadline,
            q.lastDuration,
          ],
          h=12,
          inspect=false,
          filterable=true,
          sortBy={ displayName: 'State', desc: true },
          overrides=[
            // The job is only needed by the Check column's link.
            common.hidden('job'),
            common.checkColumn(config),
            common.stateColumn(q.checkStates, 90),
            g.byName('Since last success', [
              g.prop('unit', 's'),
              g.prop('decimals', 0),
              // A check that never succeeded has a last success of 0:
              // time() - 0 is far beyond 1e9 s (31 years).
              g.prop('mappings', [g.rangeMap(1000000000, null, 'never')]),
            ]),
            g.byName('Deadline', [g.prop('unit', 'dateTimeFromNow')]),
            g.byName('Last duration', [
              g.prop('unit', 's'),
              // 0: no finished run had a /start ping.
              g.prop('mappings', [g.valueMap([['0', 'unknown', null]])]),
            ]),
            g.byName('Severity', [
              g.prop('mappings', [g.valueMap([
                ['critical', null, 'red'],
                ['warning', null, 'orange'],
                ['info', null, 'blue'],
              ])]),
              g.prop('custom.cellOptions', { type: 'color-text' }),
            ]),
            g.byName('Runbook', [
              g.prop('links', [common.runbookLink]),
              g.prop('mappings', [g.emptyMap('-')]),
            ]),
          ],
          transformations=[
            g.merge,
            g.organize([
              ['check', 'Check'],
              ['Value #A', 'State'],
              ['Value #B', 'Since last success'],
              ['Value #C', 'Deadline'],
              ['Value #D', 'Last duration'],
              ['schedule', 'Schedule'],
              ['severity', 'Severity'],
              ['owner', 'Owner'],
              ['team', 'Team'],
              ['runbook_url', 'Runbook'],
              'job',
            ]),
          ],
        ),
      ]);

      local rate(metric) = 'rate(%s[$__rate_interval])' % q.series(metric);
      local increase(metric) = 'increase(%s[$__rate_interval])' % q.series(metric);

      local activity = g.row('Activity', [
        g.timeseries(
          'Pings per check',
          'Accepted pings per second (all kinds), summed over replicas.',
          'reqps',
          [g.target('sum %s (%s)' % [q.without(['kind']), rate('deadman_check_pings_total')], '{{check}}')],
        ),
        g.timeseries(
          'Pings by kind',
          'Accepted pings per second by kind, all checks.',
          'reqps',
          [g.target('sum %s (%s)' % [q.without(['check']), rate('deadman_check_pings_total')], '{{kind}}')],
        ),
        g.timeseries(
          'Records per check',
          'Records reported by success and fail pings, per second.',
          'cps',
          [g.target('sum %s (%s)' % [q.without(), rate('deadman_check_records_total')], '{{check}}')],
        ),
        g.timeseries(
          'Time until deadline',
          'deadline - time(): negative means late.',
          's',
          [g.target('%s - time()' % q.deadline, '{{check}}')],
          // Red below zero.
          thresholds=g.thresholds('red', [[0, 'transparent']]),
          thresholdsStyle='line+area',
        ),
        g.timeseries(
          'Failures by reason',
          'Failed runs per rate-interval window by reason, all checks.',
          'short',
          // > 0: no bars of zero height between failures.
          [g.target('sum %s (%s) > 0' % [q.without(['check']), increase('deadman_check_failures_total')], '{{reason}}')],
          calcs=['sum'],
          bars=true,
        ),
        g.timeseries(
          'Failures by check',
          'Failed runs per rate-interval window by check, all reasons.',
          'short',
          [g.target('sum %s (%s) > 0' % [q.without(['reason']), increase('deadman_check_failures_total')], '{{check}}')],
          calcs=['sum'],
          bars=true,
        ),
        g.timeseries(
          'Last run duration',
          'Duration of the last finished run that had a /start ping.',
          's',
          // 0: no finished run with a /start ping yet.
          [g.target('%s > 0' % q.lastDuration, '{{check}}')],
        ),
        g.timeseries(
          'Runs in progress',
          'Started runs not yet finished (checks with none are hidden).',
          'none',
          [g.target('%s > 0' % q.runsInProgress, '{{check}}')],
          decimals=0,
          softMin=0,
        ),
      ]);

      // Ids after the Volume row's (35 on): added last, so the ids that links
      // with viewPanel= point at stay.
      local reports = g.row('Run reports', id=35, panels=[
        g.timeseries(
          'Failure rate per check',
          'Failed runs / finished runs (success and fail pings) per rate-interval window, summed over replicas; checks without finished runs are hidden. Flaky integrations that never fail twice in a row show here.',
          'percentunit',
          [g.target(
            // >= 0 drops NaN (no finished run in the window), keeps 0.
            'sum %s (%s)\n/\nsum %s (increase(deadman_check_pings_total{%s, kind=~"success|fail"}[$__rate_interval])) >= 0' % [
              q.without(['reason']),
              increase('deadman_check_failures_total'),
              q.without(['kind']),
              common.selector(config),
            ],
            '{{check}}'
          )],
          w=24,
        ),
      ]);

      // Its ids follow the Exporter row's: this row was added after it, and
      // panel ids stay what links with viewPanel= point at.
      local volume = g.row('Volume and expiries', id=30, panels=[
        g.table(
          'Volume windows',
          'Checks with a volume expectation ([check.volume]): records counted in the current window (summed across replicas) against min_records / max_records, and when the minimum is due. State, first match wins: low (below the minimum after its due: DeadmanCheckVolumeLow), high (above the maximum: DeadmanCheckVolumeHigh), filling (below the minimum, not due yet), ok.',
          'none',
          [
            q.withInfo(q.volumeState, ['owner', 'team']),
            q.records,
            q.minRecords,
            q.maxRecords,
            '%s * 1000' % q.due,
            // No ratio for checks without a minimum.
            '%s / (%s > 0)' % [q.records, q.minRecords],
          ],
          h=8,
          inspect=false,
          filterable=true,
          sortBy={ displayName: 'State', desc: true },
          overrides=[
            common.hidden('job'),
            common.checkColumn(config),
            common.stateColumn(q.volumeStates, 90),
            g.byName('Records', [g.prop('unit', 'short')]),
            g.byName('Minimum', [g.prop('unit', 'short')]),
            g.byName('Maximum', [
              g.prop('unit', 'short'),
              // max_records is optional.
              g.prop('mappings', [g.emptyMap('-')]),
            ]),
            g.byName('Due', [g.prop('unit', 'dateTimeFromNow')]),
            g.byName('Of minimum', [
              g.prop('unit', 'percentunit'),
              g.prop('min', 0),
              g.prop('max', 1),
              g.prop('custom.cellOptions', { type: 'gauge', mode: 'basic', valueDisplayMode: 'text' }),
              g.prop('thresholds', g.thresholds('red', [[1, 'green']])),
            ]),
          ],
          transformations=[
            g.merge,
            g.organize([
              ['check', 'Check'],
              ['Value #A', 'State'],
              ['Value #B', 'Records'],
              ['Value #C', 'Minimum'],
              ['Value #D', 'Maximum'],
              ['Value #F', 'Of minimum'],
              ['Value #E', 'Due'],
              ['owner', 'Owner'],
              ['team', 'Team'],
              'job',
            ]),
          ],
        ),
        g.timeseries(
          'Window records vs minimum / maximum',
          "Records counted in each check's current volume window (summed across replicas); dashed: its min_records and max_records. A calendar window drops to 0 when it resets.",
          'short',
          [
            g.target(q.records, '{{check}}'),
            g.target('%s > 0' % q.minRecords, '{{check}} min'),
            g.target(q.maxRecords, '{{check}} max'),
          ],
          overrides=[g.byRegexp('/ (min|max)$/', g.dashed())],
        ),
        g.timeseries(
          'Records: last hour vs same hour last week',
          'Records in the last hour (summed across replicas) and in the same hour one week earlier (dashed): the two numbers DeadmanCheckVolumeDrop compares. Recorded by alerts/deadman.rules.yml (job_check:deadman_check_records:increase1h and ...:increase1h_offset1w), so Prometheus must load those rules.',
          'short',
          [
            g.target(q.recordsLastHour, '{{check}} last hour'),
            g.target(q.recordsLastWeek, '{{check}} same hour last week'),
          ],
          overrides=[g.byRegexp('/ same hour last week$/', g.dashed())],
        ),
        g.table(
          'Upcoming expiries',
          'Declared expiries ([[check.expiry]]) soonest first: time left (negative: expired), when, and the warning window. State: expired (DeadmanExpired), expiring (inside warn_before: DeadmanExpirySoon), ok, or not reported (declared, but no run has reported it and no `at` is configured). Across replicas the newest reported expiry wins.',
          'none',
          [
            q.withInfo(q.expiryState, ['owner', 'team']),
            '%s - time()' % q.expiry,
            '%s * 1000' % q.expiry,
            q.warnBefore,
          ],
          h=8,
          inspect=false,
          filterable=true,
          sortBy={ displayName: 'Time left', desc: false },
          overrides=[
            common.hidden('job'),
            common.checkColumn(config),
            common.stateColumn(q.expiryStates, 110),
            g.byName('Time left', [g.prop('unit', 's'), g.prop('decimals', 0)]),
            g.byName('Expires', [g.prop('unit', 'dateTimeAsIso')]),
            g.byName('Warn before', [g.prop('unit', 's')]),
          ],
          transformations=[
            g.merge,
            g.organize([
              ['check', 'Check'],
              ['name', 'Name'],
              ['kind', 'Kind'],
              ['Value #A', 'State'],
              ['Value #B', 'Time left'],
              ['Value #C', 'Expires'],
              ['Value #D', 'Warn before'],
              ['owner', 'Owner'],
              ['team', 'Team'],
              'job',
            ]),
          ],
        ),
      ]);

      // The exporter itself, per replica: collapsed, as it matters when
      // something is wrong with deadman rather than with a check.
      local exporter = g.row('Exporter', id=19, collapsed=true, panels=[
        g.stat(
          'Replicas',
          'Exporter instances reporting deadman_build_info.',
          'none',
          ['count(%s)' % q.series('deadman_build_info')],
          noValue='0',
        ),
        g.stat(
          'Last config reload',
          'Most recent successful config load/reload.',
          'dateTimeFromNow',
          ['max(%s) * 1000' % q.series('deadman_config_last_reload_success_timestamp_seconds')],
          w=5,
        ),
        g.stat(
          'Checks restored from storage',
          'Checks loaded from storage at startup, per replica.',
          'none',
          [g.target(q.series('deadman_state_restored_checks'), '{{instance}}')],
          w=5,
        ),
        g.stat(
          'Storage errors',
          'Failed storage commits in the last rate-interval window, all replicas.',
          'short',
          ['sum(%s)' % increase('deadman_storage_errors_total')],
          thresholds=g.thresholds('green', [[1, 'red']]),
          colorMode='background',
          noValue='0',
        ),
        g.table(
          'Versions',
          'deadman_build_info by version and revision.',
          'none',
          ['count by (job, version, revision) (%s)' % q.series('deadman_build_info')],
          h=4,
          w=6,
          overrides=[g.byName('Value', [g.prop('displayName', 'Replicas')])],
          transformations=[g.organize()],
        ),
        g.timeseries(
          'Rejected pings by reason',
          'Ping requests rejected by the exporter, per second.',
          'reqps',
          [g.target('sum %s (%s)' % [q.without(), rate('deadman_pings_rejected_total')], '{{reason}}')],
        ),
        g.timeseries(
          'Storage commit duration',
          'Storage commit latency quantiles across replicas.',
          's',
          [
            g.target('histogram_quantile(0.99, sum %s (%s))' % [q.without(), rate('deadman_storage_commit_duration_seconds_bucket')], 'p99'),
            g.target('histogram_quantile(0.5, sum %s (%s))' % [q.without(), rate('deadman_storage_commit_duration_seconds_bucket')], 'p50'),
          ],
        ),
        g.timeseries(
          'Storage commit batch size',
          'Pings per storage commit batch.',
          'short',
          [
            g.target('histogram_quantile(0.99, sum %s (%s))' % [q.without(), rate('deadman_storage_commit_batch_size_bucket')], 'p99'),
            g.target('sum(%s) / sum(%s)' % [rate('deadman_storage_commit_batch_size_sum'), rate('deadman_storage_commit_batch_size_count')], 'mean'),
          ],
        ),
        g.timeseries(
          'Process CPU',
          'CPU used per replica (1 = one core).',
          'percentunit',
          [g.target(rate('process_cpu_seconds_total'), '{{instance}}')],
          w=6,
        ),
        g.timeseries(
          'Process memory',
          'Resident memory per replica.',
          'bytes',
          [g.target(q.series('process_resident_memory_bytes'), '{{instance}}')],
          w=6,
        ),
      ]);

      // The store's size: its own row, after the others, so that every
      // older panel keeps its id (links to a panel use it).
      local storage = g.row('Storage', id=37, collapsed=true, panels=[
        g.timeseries(
          'Journal rows',
          'Pings stored per replica, and those beyond [storage] history that trimming will delete: a backlog that keeps growing means a flood leaves the writer no idle time.',
          'short',
          [
            g.target(q.series('deadman_storage_journal_rows'), 'stored {{instance}}'),
            g.target(q.series('deadman_storage_journal_rows_awaiting_trim'), 'awaiting trim {{instance}}'),
          ],
        ),
      ]);

      g.dashboard(
        config,
        'overview',
        common.titles.overview,
        'All deadman checks at a glance: state, freshness, pings, failures, volume windows and expiries.',
        // The overview can show several deadman jobs at once (the Check
        // column's link passes the row's job on).
        variables=[g.variables.job(config, multi=true)],
        rows=[summary, checks, activity, reports, volume, exporter, storage],
      ),
  },
}
