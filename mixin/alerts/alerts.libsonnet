// Alerting rules. The per-check alerts share the group deadman.checks with
// the recording rules they read (see mixin.libsonnet).
(import 'checks.libsonnet') +
(import 'volume.libsonnet') +
(import 'expiry.libsonnet') +
(import 'reports.libsonnet') +
(import 'exporter.libsonnet') +
{
  prometheusAlerts+:: {
    groups+: [
      {
        name: 'deadman.checks',
        rules: $.checkAlerts + $.reportAlerts + $.volumeAlerts + $.expiryAlerts,
      },
      {
        name: 'deadman.exporter',
        rules: $.exporterAlerts,
      },
    ],
  },
}
