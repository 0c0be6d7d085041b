// deadman / Check: one check in depth, chosen with the `check` variable.
local g = import '../lib/grafana.libsonnet';
local common = import 'common.libsonnet';

{
  grafanaDashboards+:: {
    'deadman-check.json':
      local config = $._config;
      local q = common.queries(config, common.selector(config, ['check="$check"']));

      local rate(metric) = 'rate(%s[$__rate_interval])' % q.series(metric);
      local increase(metric) = 'increase(%s[$__rate_interval])' % q.series(metric);
      // Timestamps are 0 until the event happened once: "never" rather
      // than 1970.
      local happened(ts) = '%s * 1000 > 0' % ts;
      // The oldest unfinished run's start; 0 when none runs.
      local oldestRunStart = 'min %s (%s > 0)' % [q.without(), q.series('deadman_check_oldest_run_start_timestamp_seconds')];
      // The last success, ignoring replicas that never saw one.
      local lastSuccessSeen = 'max %s (%s > 0)' % [q.without(), q.series('deadman_check_last_success_timestamp_seconds')];

      local status = g.row('Status', [
        g.stat(
          'State',
          'State computed from the gauges, first match wins: failing (last failure newer than last success), late (time() > deadline), running (runs in progress > 0), new (never succeeded, not late), up.',
          'none',
          [q.checkState],
          colorMode='background',
          mappings=[common.stateMapping(q.checkStates)],
          // No series: the check is not configured on this job.
          noValue='unknown check',
        ),
        g.stat(
          'Last success',
          'Last successful run.',
          'dateTimeFromNow',
          [happened(q.lastSuccess)],
          noValue='never',
        ),
        g.stat(
          'Deadline',
          'Instant after which silence is an incident.',
          'dateTimeFromNow',
          // dateTime units take milliseconds.
          ['%s * 1000' % q.deadline],
        ),
        g.stat(
          'Time until deadline',
          'deadline - time(); negative means late.',
          's',
          ['%s - time()' % q.deadline],
          thresholds=g.thresholds('red', [[0, 'green']]),
          colorMode='background',
        ),
        g.stat(
          'Runs in progress',
          'Started runs not yet finished.',
          'none',
          [q.runsInProgress],
          thresholds=g.thresholds('text', [[1, 'purple']]),
        ),
        g.stat(
          'Last run duration',
          'Duration of the last finished run that had a /start ping.',
          's',
          ['%s > 0' % q.lastDuration],
          noValue='unknown',
        ),
        g.stat(
          'Last failure',
          'Last failed run.',
          'dateTimeFromNow',
          [happened(q.lastFailure)],
          noValue='never',
        ),
        g.stat(
          'Last failure reason',
          'Reason of the most recent failure (deadman_check_last_failure_info).',
          'none',
          [g.target(q.max('deadman_check_last_failure_info'), '{{reason}}')],
          // The reason is a label: show the series name, not its value 1.
          textMode='name',
          noValue='none',
        ),
        g.stat(
          'Oldest running run started',
          'Start of the oldest unfinished run.',
          'dateTimeFromNow',
          ['%s * 1000' % oldestRunStart],
          noValue='none running',
        ),
        g.stat(
          'Max runtime',
          'Configured max_runtime (only set for some checks).',
          's',
          [q.maxRuntime],
          noValue='not set',
        ),
        g.stat(
          'First configured',
          'When the check first appeared in the config (earliest replica).',
          'dateTimeAsIso',
          [happened(q.min('deadman_check_first_configured_timestamp_seconds'))],
          w=8,
        ),
        g.table(
          'Metadata',
          'Labels of deadman_check_info: owner, team, severity, schedule, runbook, static labels.',
          'none',
          [q.max('deadman_check_info')],
          h=4,
          inspect=true,
          overrides=[g.byName('runbook_url', [g.prop('links', [common.runbookLink])])],
          // Static labels of the check come after these, in the order
          // Prometheus returns them.
          transformations=[g.organize(
            ['check', 'description', 'schedule', 'owner', 'team', 'severity', 'runbook_url', 'job'],
            exclude=['Time', 'Value', '__name__'],
          )],
        ),
      ]);

      local freshness = g.row('Freshness', [
        g.timeseries(
          'Age of last success',
          'Time since the last success, and the age allowed by the deadline (deadline - last success). Late when the first crosses the second.',
          's',
          [
            g.target('time() - %s' % lastSuccessSeen, 'since last success'),
            g.target('%s - %s' % [q.deadline, lastSuccessSeen], 'allowed'),
          ],
          calcs=['lastNotNull'],
          overrides=[g.byName('allowed', g.dashed('red'))],
        ),
        g.timeseries(
          'Time until deadline',
          'deadline - time(): negative means late.',
          's',
          [g.target('%s - time()' % q.deadline, 'until deadline')],
          calcs=['lastNotNull', 'min'],
          // Red below zero.
          thresholds=g.thresholds('red', [[0, 'transparent']]),
          thresholdsStyle='line+area',
        ),
        g.timeseries(
          'Runs in progress',
          'Started runs not yet finished.',
          'none',
          [g.target(q.runsInProgress, 'runs in progress')],
          decimals=0,
          softMin=0,
          w=8,
        ),
        g.timeseries(
          'Oldest unfinished run age',
          'Age of the oldest unfinished run vs the configured max_runtime.',
          's',
          [
            g.target('time() - %s' % oldestRunStart, 'oldest run age'),
            g.target(q.maxRuntime, 'max runtime'),
          ],
          overrides=[g.byName('max runtime', g.dashed('red'))],
          w=8,
        ),
        g.timeseries(
          'Run duration',
          'Duration of the last finished run (that had a /start ping) vs max_runtime.',
          's',
          [
            g.target('%s > 0' % q.lastDuration, 'last run duration'),
            g.target(q.maxRuntime, 'max runtime'),
          ],
          overrides=[g.byName('max runtime', g.dashed('red'))],
          w=8,
        ),
      ]);

      local pings = g.row('Pings and failures', [
        g.timeseries(
          'Pings by kind',
          'Accepted pings per second by kind (success, fail, start, log).',
          'reqps',
          [g.target('sum %s (%s)' % [q.without(), rate('deadman_check_pings_total')], '{{kind}}')],
          w=8,
        ),
        g.timeseries(
          'Records',
          'Records reported by success and fail pings, per second.',
          'cps',
          [g.target('sum %s (%s)' % [q.without(), rate('deadman_check_records_total')], 'records')],
          w=8,
        ),
        g.timeseries(
          'Failures by reason',
          'Failed runs per rate-interval window by reason.',
          'short',
          // > 0: no bars of zero height between failures.
          [g.target('sum %s (%s) > 0' % [q.without(), increase('deadman_check_failures_total')], '{{reason}}')],
          calcs=['sum'],
          bars=true,
          w=8,
        ),
      ]);

      local volume = g.row('Volume and expiries', [
        g.stat(
          'Volume state',
          'Records counted in the current volume window, summed across replicas. State as in the overview: red when below the minimum after its due (DeadmanCheckVolumeLow) or above the maximum (DeadmanCheckVolumeHigh).',
          'none',
          ['(\n%s\n)' % q.volumeState],
          mappings=[common.stateMapping(q.volumeStates)],
          noValue='no volume expectation',
        ),
        g.stat(
          'Window records',
          'Records counted in the current volume window, summed across replicas.',
          'short',
          [q.records],
          noValue='-',
        ),
        g.stat(
          'Minimum / maximum',
          'Configured min_records and max_records (max only where set).',
          'short',
          [g.target(q.minRecords, 'min'), g.target(q.maxRecords, 'max')],
          noValue='-',
        ),
        g.stat(
          'Minimum due',
          "When the minimum must have been met (the exporter computes it in the check's time zone).",
          'dateTimeFromNow',
          ['%s * 1000' % q.due],
          noValue='-',
        ),
        g.stat(
          'Records last hour',
          'Records in the last hour (recorded by alerts/deadman.rules.yml as job_check:deadman_check_records:increase1h).',
          'short',
          [q.recordsLastHour],
          noValue='-',
          // increase() extrapolates: 11.97 records are 12.
          decimals=0,
        ),
        g.stat(
          'Same hour last week',
          'Records in the same hour one week earlier (job_check:deadman_check_records:increase1h_offset1w). DeadmanCheckVolumeDrop fires when the last hour falls well below it.',
          'short',
          [q.recordsLastWeek],
          noValue='-',
          decimals=0,
        ),
        g.timeseries(
          'Window records vs minimum / maximum',
          'Records counted in the current volume window (summed across replicas), with min_records and max_records (dashed). A calendar window drops to 0 when it resets.',
          'short',
          [
            g.target(q.records, 'records'),
            // 0: no minimum.
            g.target('%s > 0' % q.minRecords, 'minimum'),
            g.target(q.maxRecords, 'maximum'),
          ],
          calcs=['lastNotNull'],
          overrides=[
            g.byName('minimum', g.dashed('red')),
            g.byName('maximum', g.dashed('orange')),
          ],
        ),
        g.timeseries(
          'Records: last hour vs same hour last week',
          'Records in the last hour and in the same hour one week earlier (dashed), as DeadmanCheckVolumeDrop compares them. Recorded by alerts/deadman.rules.yml, so Prometheus must load those rules.',
          'short',
          [
            g.target(q.recordsLastHour, 'last hour'),
            g.target(q.recordsLastWeek, 'same hour last week'),
          ],
          calcs=['lastNotNull', 'min', 'max'],
          overrides=[g.byName('same hour last week', g.dashed())],
        ),
        g.table(
          'Expiries',
          "This check's declared expiries: time left (negative: expired), when, and the warning window. State: expired (DeadmanExpired), expiring (inside warn_before: DeadmanExpirySoon), ok, or not reported (declared, but not known yet).",
          'none',
          [
            '(\n%s\n)' % q.expiryState,
            '%s - time()' % q.expiry,
            '%s * 1000' % q.expiry,
            q.warnBefore,
          ],
          h=6,
          inspect=false,
          filterable=true,
          sortBy={ displayName: 'Time left', desc: false },
          overrides=[
            // One job and check: the variables say which.
            common.hidden('job'),
            common.hidden('check'),
            common.stateColumn(q.expiryStates, 110),
            g.byName('Time left', [g.prop('unit', 's'), g.prop('decimals', 0)]),
            g.byName('Expires', [g.prop('unit', 'dateTimeAsIso')]),
            g.byName('Warn before', [g.prop('unit', 's')]),
          ],
          transformations=[
            g.merge,
            g.organize([
              ['name', 'Name'],
              ['kind', 'Kind'],
              ['Value #A', 'State'],
              ['Value #B', 'Time left'],
              ['Value #C', 'Expires'],
              ['Value #D', 'Warn before'],
              'check',
              'job',
            ]),
          ],
        ),
      ]);

      // What a run reports beyond success and failure (issue #14): declared
      // values, failures in a row, the failure ratio, the last success's
      // duration against min_runtime, and the pause.
      local reports = g.row('Run reports', [
        g.stat(
          'Paused',
          'A paused check is recorded but fires no per-check alert (paused, or before paused_until).',
          'none',
          [q.max('deadman_check_paused')],
          mappings=[g.valueMap([['0', 'no', 'green'], ['1', 'paused', 'text']])],
          noValue='-',
        ),
        g.stat(
          'Failures in a row',
          'Failed runs since the last success (largest per-replica count). DeadmanCheckFailing pages from the failure threshold.',
          'none',
          [q.max('deadman_check_consecutive_failures')],
          thresholds=g.thresholds('green', [[1, 'orange']]),
          noValue='-',
        ),
        g.stat(
          'Failure threshold',
          'failure_threshold: failed runs in a row before DeadmanCheckFailing pages.',
          'none',
          [q.max('deadman_check_failure_threshold')],
          noValue='-',
        ),
        g.stat(
          'Failure ratio',
          "Failed runs / runs in the check's failure_ratio_window, summed across replicas (checks with max_failure_ratio).",
          'percentunit',
          ['%s / %s' % [q.sum('deadman_check_failure_ratio_window_failures'), q.sum('deadman_check_failure_ratio_window_runs')]],
          noValue='no max_failure_ratio',
        ),
        g.stat(
          'Last success duration',
          'Duration of the most recent success from its start ping (checks with min_runtime).',
          's',
          [q.max('deadman_check_last_success_duration_seconds')],
          noValue='-',
        ),
        g.stat(
          'Min runtime',
          'min_runtime: a success faster than this pages DeadmanCheckRanTooShort.',
          's',
          [q.max('deadman_check_min_runtime_seconds')],
          noValue='not set',
        ),
        g.timeseries(
          'Declared values',
          'The last reported value of each [[check.value]] (the newest report across replicas is what the alert uses).',
          'short',
          [g.target(q.max('deadman_check_value'), '{{name}}')],
          w=24,
        ),
      ]);

      g.dashboard(
        config,
        'check',
        common.titles.check,
        'One deadman check in depth: metadata, freshness, deadline, runs, pings and failures, volume window and expiries.',
        variables=[
          g.variables.job(config),
          // Refreshed on time range change too: checks come and go with
          // config changes.
          g.variables.query(
            'check',
            'Check',
            'label_values(deadman_check_info{%s}, check)' % common.selector(config),
            refresh=2,
          ),
        ],
        rows=[status, freshness, pings, volume, reports],
      ),
  },
}
