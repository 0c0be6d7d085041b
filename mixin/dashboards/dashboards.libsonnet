// The Grafana dashboards, generated from `_config`:
//   deadman-overview.json  every check at a glance (overview.libsonnet)
//   deadman-check.json     one check in depth (check.libsonnet)
// scripts/generate-mixin renders them to dashboards/.
(import 'overview.libsonnet') +
(import 'check.libsonnet') +
{
  grafanaDashboards+:: {
    // The overview links to the check dashboard by uid.
    assert $._config.dashboardUids.overview != $._config.dashboardUids.check :
           'dashboardUids: the two dashboards need different uids',
  },
}
