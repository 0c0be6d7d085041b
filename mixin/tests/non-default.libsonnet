// A non-default `_config` for scripts/check-mixin: another job name, an
// extra HA label, another runbook base and other `for` durations. The
// render must pass `promtool check rules` and the same promtool tests as the
// default one (alerts/tests/, with the job name and runbook base
// substituted).
//
// The durations are shorter than the defaults but fire at the same
// evaluations of the tests (evaluation_interval 30s and 1m): an alert
// pending at t fires at the first evaluation at least `for` after t, and
// 20s or 4m50s reach the same evaluation as 30s or 5m. So the tests keep
// their times, and what they prove is that every rule takes its `for` from
// the config (a rule that kept a literal would not change in the render:
// scripts/check-mixin checks that every `for` did).
{
  _config+:: {
    jobName: 'integrations-deadman',
    haLabels: ['instance', 'pod', 'replica'],
    runbookUrlBase: 'https://runbooks.example.com/deadman#',
    alertFor: {
      DeadmanCheckLate: '20s',
      DeadmanCheckFailing: '20s',
      DeadmanCheckRunningTooLong: '20s',
      DeadmanCheckAuthFailing: '20s',
      DeadmanCheckValueOutOfRange: '20s',
      DeadmanCheckFailureRateHigh: '4m50s',
      DeadmanCheckRanTooShort: '20s',
      DeadmanCheckVolumeLow: '20s',
      DeadmanCheckVolumeHigh: '20s',
      DeadmanCheckVolumeDrop: '14m50s',
      DeadmanExpirySoon: '9m50s',
      DeadmanExpired: '50s',
      DeadmanExporterDown: '4m50s',
      DeadmanExporterReplicaDown: '14m50s',
      DeadmanExporterAbsent: '4m50s',
      DeadmanConfigReloadFailed: '9m50s',
      DeadmanStorageErrors: '14m50s',
      DeadmanPingsRejected: '4m50s',
    },
    dashboardUids: { overview: 'integrations-overview', check: 'integrations-check' },
  },
}
