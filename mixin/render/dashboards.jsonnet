// dashboards/*.json (jsonnet -m): one file per dashboard.
function(overrides={})
  local mixin = (import '../mixin.libsonnet') + overrides;
  mixin.grafanaDashboards
