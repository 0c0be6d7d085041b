// Every setting the rules and dashboards are generated from. Override any of
// them in your own jsonnet:
//
//   (import 'deadman/mixin/mixin.libsonnet') + {
//     _config+:: { jobName: 'integrations-deadman', alertFor+: { DeadmanCheckLate: '2m' } },
//   }
//
// The defaults are what alerts/deadman.rules.yml and dashboards/*.json ship
// with.
{
  _config+:: {
    // The job Prometheus scrapes deadman under. The dashboards' `job`
    // variable defaults to it.
    jobName: 'deadman',

    // Label matchers (without braces) that select deadman's series in every
    // rule, and the `job` variable's choices in the dashboards. Add e.g.
    // `cluster="eu"` to keep the rules to one cluster.
    deadmanSelector: 'job="%s"' % self.jobName,

    // Labels that tell replicas of one job apart. Every per-check quantity
    // is combined across replicas without them (see "High availability" in
    // README.md): a check pinged on any replica is not late.
    haLabels: ['instance', 'pod'],

    // `for` of every alert. The per-check alerts' 30s is what keeps a page
    // within 2 minutes of a deadline with examples/prometheus.yml
    // (scrape 15s, evaluation 30s) and examples/alertmanager.yml (group_wait
    // 30s); keep `for` > scrape_interval + scrape_timeout, so that an alert
    // that turned pending just before the exporter died is dropped by the
    // outage gate before it can fire. See README.md "Alerting: timing".
    alertFor: {
      DeadmanCheckLate: '30s',
      DeadmanCheckFailing: '30s',
      DeadmanCheckRunningTooLong: '30s',
      DeadmanCheckAuthFailing: '30s',
      // A value's own `for` (value.for in the config) comes on top.
      DeadmanCheckValueOutOfRange: '30s',
      // The ratio moves at every run; 5m keeps one borderline run from
      // flapping it.
      DeadmanCheckFailureRateHigh: '5m',
      DeadmanCheckRanTooShort: '30s',
      DeadmanCheckVolumeLow: '30s',
      DeadmanCheckVolumeHigh: '30s',
      DeadmanCheckVolumeDrop: '15m',
      DeadmanExpirySoon: '10m',
      DeadmanExpired: '1m',
      DeadmanExporterDown: '5m',
      DeadmanExporterReplicaDown: '15m',
      DeadmanExporterAbsent: '5m',
      DeadmanConfigReloadFailed: '10m',
      DeadmanStorageErrors: '15m',
      DeadmanPingsRejected: '5m',
    },

    // `keep_firing_for` where one is set: DeadmanExpirySoon keeps firing
    // until DeadmanExpired has fired (its `for`), so the two hand over with
    // no gap.
    alertKeepFiringFor: {
      DeadmanExpirySoon: $._config.alertFor.DeadmanExpired,
    },

    // DeadmanCheckVolumeDrop: fire when the last hour holds less than this
    // fraction of the same hour one week earlier ...
    volumeDropFraction: 0.5,
    // ... and only for checks with at least this many records in that hour a
    // week ago (below it, a handful of records is noise).
    volumeDropMinBaseline: 20,

    // How long the rules remember a replica whose series went stale (restart,
    // scrape failure): timestamps, deadlines, metadata, window counts and
    // expiries for `memoryLong`; run state and max_runtime for
    // `memoryShort`, so that a finished run or a removed max_runtime is
    // forgotten quickly.
    memoryLong: '1h',
    memoryShort: '10m',

    // Where every alert's runbook_url points unless the check sets its own
    // runbook_url: this base followed by the alert's name in lower case
    // (README.md's alert reference has one anchor per alert).
    runbookUrlBase: 'https://github.com/deadman-exporter/deadman/blob/main/README.md#',

    // Grafana: stable uids (links between the dashboards use them), tags,
    // the datasource the `datasource` variable starts on, refresh and time
    // range.
    dashboardUids: {
      overview: 'deadman-overview',
      check: 'deadman-check',
    },
    // Every dashboard carries all of these; each dashboard's "deadman" link
    // lists the dashboards that do.
    dashboardTags: ['deadman', 'prometheus'],
    // A datasource name or uid; '' leaves the choice to Grafana (its default
    // datasource), as the shipped dashboards do, so that they work whatever
    // the Prometheus datasource is called.
    dashboardDatasource: '',
    dashboardRefresh: '1m',
    // Per dashboard: a day of the overview shows the daily jobs; a week of
    // one check shows its weekly runs and week-over-week volume.
    dashboardTimeFrom: {
      overview: 'now-24h',
      check: 'now-7d',
    },
    // Label matchers (without braces) every dashboard query starts with. It
    // must contain job=~"$job" (the `job` variable, whose choices come from
    // deadmanSelector); add the other matchers of deadmanSelector (e.g.
    // cluster="eu") to keep the panels to them as well.
    dashboardSelector: 'job=~"$job"',

    // The PrometheusRule (examples/kubernetes/prometheusrule.yaml) for
    // prometheus-operator: its namespace, and the labels your Prometheus's
    // ruleSelector matches.
    prometheusRuleNamespace: 'monitoring',
    prometheusRuleLabels: {
      'app.kubernetes.io/name': 'deadman',
      'app.kubernetes.io/component': 'alerting-rules',
    },
  },
}
