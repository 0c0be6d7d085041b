// A small builder library for the deadman Grafana dashboards. No grafonnet:
// nothing can be vendored from the network in CI, and the dashboards need
// only stat, time series and table panels.
//
// The builders own the conventions every dashboard follows, so that a
// dashboard cannot break one by accident; dashboard() asserts them again on
// the finished dashboard, whatever was merged into its panels:
//
//   * every panel, target, query variable and annotation queries the
//     datasource the `datasource` variable selects;
//   * every panel has a unit (the panel builders have no default for it);
//   * every panel has a unique id, and its gridPos comes from the rows
//     (layout()), not from hand-written coordinates;
//   * uid, tags, refresh and time range come from `_config`.
//
// What the builders cannot see into, the PromQL text, scripts/lint-dashboards
// checks: that it parses, uses $__rate_interval and keeps the job matcher.
local ds = { type: 'prometheus', uid: '${datasource}' };

local isDs(d) = d == ds;

local hasText(s) = std.isString(s) && std.length(std.stripChars(s, ' \t\n')) > 0;

// A panel with its nested panels (a collapsed row holds its own).
local allPanels(panels) = std.flattenArrays([
  [p] + allPanels(std.get(p, 'panels', []))
  for p in panels
]);

// Targets of a panel, from query strings or target() objects, in order:
// refId A, B, C, ... (tables' organize transformations refer to the
// columns as `Value #A` and so on). `kind` is 'instant' (stat), 'range'
// (time series) or 'table'.
local makeTargets(title, list, kind) =
  assert std.length(list) > 0 : 'panel "%s" has no targets' % title;
  [
    local t = if std.isString(list[i]) then { expr: list[i] } else list[i];
    assert hasText(t.expr) : 'panel "%s" has an empty query' % title;
    {
      datasource: ds,
      refId: std.char(std.codepoint('A') + i),
      expr: t.expr,
      legendFormat: std.get(t, 'legend', if kind == 'table' then '' else '__auto'),
      range: kind == 'range',
      instant: kind != 'range',
    } + (if kind == 'table' then { format: 'table' } else {})
    for i in std.range(0, std.length(list) - 1)
  ];

// What every panel has. `unit` has no default in any builder: a panel
// without one does not render.
local panel(type, title, description, unit, w, h) =
  assert hasText(title) : 'a %s panel has no title' % type;
  assert hasText(unit) : 'panel "%s" has no unit' % title;
  {
    type: type,
    title: title,
    description: description,
    datasource: ds,
    // Read by layout(), not part of the JSON.
    gridW:: w,
    gridH:: h,
  };

{
  datasource:: ds,

  // ---- queries

  // A query with its legend; a plain string is a query with the default
  // legend ('__auto', or '' in tables).
  target(expr, legend):: { expr: expr, legend: legend },

  // ---- field config

  // Absolute thresholds: `base` from -Inf, then [value, color] steps.
  thresholds(base, steps=[]):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] + [{ color: s[1], value: s[0] } for s in steps],
  },

  // A value mapping from [value, text, color] entries (null leaves text or
  // color out); `index` follows the order given.
  valueMap(entries):: {
    type: 'value',
    options: {
      [entries[i][0]]: {
        [if entries[i][1] != null then 'text']: entries[i][1],
        [if entries[i][2] != null then 'color']: entries[i][2],
        index: i,
      }
      for i in std.range(0, std.length(entries) - 1)
    },
  },

  // A range mapping (null: open end).
  rangeMap(from, to, text):: {
    type: 'range',
    options: { from: from, to: to, result: { text: text, index: 0 } },
  },

  // Shows `text` for an empty cell.
  emptyMap(text):: {
    type: 'special',
    options: { match: 'empty', result: { text: text, index: 0 } },
  },

  // ---- overrides

  byName(name, properties):: { matcher: { id: 'byName', options: name }, properties: properties },
  byRegexp(regexp, properties):: { matcher: { id: 'byRegexp', options: regexp }, properties: properties },
  prop(id, value):: { id: id, value: value },
  // A reference series: a dashed line without fill, in `color` if given.
  dashed(color=null)::
    (if color != null then [self.prop('color', { mode: 'fixed', fixedColor: color })] else [])
    + [
      self.prop('custom.lineStyle', { fill: 'dash', dash: [10, 10] }),
      self.prop('custom.fillOpacity', 0),
    ],

  // ---- transformations

  // Joins the table queries' results on their common labels, one row per
  // series.
  merge:: { id: 'merge', options: {} },

  // Column order, names and hidden columns. `columns` lists the fields in
  // order, each a field name or a [field, display name] pair.
  organize(columns=[], exclude=['Time'])::
    local name(c) = if std.isArray(c) then c[0] else c;
    local renamed = [c for c in columns if std.isArray(c)];
    {
      id: 'organize',
      options: {
        excludeByName: { [f]: true for f in exclude },
        [if columns != [] then 'indexByName']: {
          [name(columns[i])]: i
          for i in std.range(0, std.length(columns) - 1)
        },
        [if renamed != [] then 'renameByName']: { [c[0]]: c[1] for c in renamed },
      },
    },

  // ---- panels

  // A single value (the last non-null one) per target.
  stat(
    title,
    description,
    unit,
    targets,
    thresholds=$.thresholds('text'),
    colorMode='value',
    mappings=[],
    noValue=null,
    decimals=null,
    textMode='auto',
    w=4,
    h=4,
  )::
    panel('stat', title, description, unit, w, h) + {
      fieldConfig: {
        defaults: {
          unit: unit,
          mappings: mappings,
          color: { mode: 'thresholds' },
          thresholds: thresholds,
          [if noValue != null then 'noValue']: noValue,
          [if decimals != null then 'decimals']: decimals,
        },
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: colorMode,
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: textMode,
        wideLayout: true,
        showPercentChange: false,
      },
      targets: makeTargets(title, targets, 'instant'),
    },

  // Lines step after each sample (the series are gauges and rates that
  // change at scrapes); bars=true draws stacked bars instead, for counts
  // per interval.
  timeseries(
    title,
    description,
    unit,
    targets,
    calcs=['lastNotNull', 'max'],
    bars=false,
    thresholds=$.thresholds('green'),
    thresholdsStyle='off',
    overrides=[],
    decimals=null,
    softMin=null,
    w=12,
    h=8,
  )::
    panel('timeseries', title, description, unit, w, h) + {
      fieldConfig: {
        defaults: {
          unit: unit,
          custom: {
            drawStyle: if bars then 'bars' else 'line',
            lineWidth: 1,
            fillOpacity: if bars then 70 else 10,
            gradientMode: 'none',
            showPoints: 'never',
            spanNulls: false,
            lineInterpolation: if bars then 'linear' else 'stepAfter',
            stacking: { mode: if bars then 'normal' else 'none', group: 'A' },
            axisPlacement: 'auto',
            [if softMin != null then 'axisSoftMin']: softMin,
            thresholdsStyle: { mode: thresholdsStyle },
          },
          color: { mode: 'palette-classic' },
          mappings: [],
          thresholds: thresholds,
          [if decimals != null then 'decimals']: decimals,
        },
        overrides: overrides,
      },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: calcs },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
      targets: makeTargets(title, targets, 'range'),
    },

  // Instant queries as a table (h has no default: tables are as high as
  // their expected rows). sortBy: {displayName, desc}.
  table(
    title,
    description,
    unit,
    targets,
    h,
    overrides=[],
    transformations=[],
    sortBy=null,
    filterable=null,
    inspect=null,
    w=24,
  )::
    panel('table', title, description, unit, w, h) + {
      fieldConfig: {
        defaults: {
          unit: unit,
          custom: {
            align: 'auto',
            cellOptions: { type: 'auto' },
            [if inspect != null then 'inspect']: inspect,
            [if filterable != null then 'filterable']: filterable,
          },
          mappings: [],
          color: { mode: 'thresholds' },
          thresholds: $.thresholds('text'),
        },
        overrides: overrides,
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        [if sortBy != null then 'sortBy']: [sortBy],
        footer: { show: false, reducer: ['sum'], countRows: false, fields: '' },
      },
      targets: makeTargets(title, targets, 'table'),
      transformations: transformations,
    },

  // ---- layout

  // A row of panels. Unless given, its id is the one after the previous
  // row's last panel; its panels' ids follow its own.
  row(title, panels, collapsed=false, id=null):: {
    title: title,
    panels: panels,
    collapsed: collapsed,
    id: id,
  },

  // Places the rows' panels on Grafana's 24-column grid: left to right,
  // wrapping to a new line when a panel does not fit, each line as high as
  // its panels (which must all have the same height, or Grafana would move
  // the panels below up into the gap). A collapsed row holds its panels;
  // the next row follows right below it.
  layout(rows)::
    local flow(panels, firstId, y0) =
      local step(s, p) =
        assert p.gridW >= 1 && p.gridW <= 24 : 'panel "%s" is %d wide' % [p.title, p.gridW];
        local wrap = s.x + p.gridW > 24;
        local y = if wrap then s.y + s.h else s.y;
        local x = if wrap then 0 else s.x;
        assert wrap || s.h == 0 || s.h == p.gridH :
               'panel "%s" is %d high, the others of its line %d' % [p.title, p.gridH, s.h];
        {
          x: x + p.gridW,
          y: y,
          h: p.gridH,
          id: s.id + 1,
          out: s.out + [p { id: s.id, gridPos: { h: p.gridH, w: p.gridW, x: x, y: y } }],
        };
      local end = std.foldl(step, panels, { x: 0, y: y0, h: 0, id: firstId, out: [] });
      { panels: end.out, y: end.y + end.h, id: end.id };
    local place(s, row) =
      local id = if row.id != null then row.id else s.id;
      local body = flow(row.panels, id + 1, s.y + 1);
      {
        y: if row.collapsed then s.y + 1 else body.y,
        id: body.id,
        out: s.out + [{
          type: 'row',
          title: row.title,
          id: id,
          collapsed: row.collapsed,
          gridPos: { h: 1, w: 24, x: 0, y: s.y },
          panels: if row.collapsed then body.panels else [],
        }] + (if row.collapsed then [] else body.panels),
      };
    std.foldl(place, rows, { y: 0, id: 1, out: [] }).out,

  // ---- variables

  variables:: {
    // The Prometheus datasource every query uses.
    datasource(config):: {
      name: 'datasource',
      label: 'Data source',
      type: 'datasource',
      query: 'prometheus',
      current: if config.dashboardDatasource == '' then {} else {
        selected: true,
        text: config.dashboardDatasource,
        value: config.dashboardDatasource,
      },
      hide: 0,
      includeAll: false,
      multi: false,
      options: [],
      refresh: 1,
      regex: '',
      skipUrlSync: false,
    },

    // A variable whose choices come from a query. refresh: 1 on dashboard
    // load, 2 also on time range change.
    query(name, label, query, current={}, multi=false, includeAll=false, refresh=1):: {
      name: name,
      label: label,
      type: 'query',
      datasource: ds,
      query: query,
      definition: query,
      current: current,
      hide: 0,
      includeAll: includeAll,
      multi: multi,
      options: [],
      refresh: refresh,
      regex: '',
      skipUrlSync: false,
      sort: 1,
    },

    // The deadman jobs deadmanSelector matches, starting on jobName.
    job(config, multi=false)::
      local value = if multi then [config.jobName] else config.jobName;
      self.query(
        'job',
        'Job',
        'label_values(deadman_build_info{%s}, job)' % config.deadmanSelector,
        current={ selected: true, text: value, value: value },
        multi=multi,
        includeAll=multi,
      ),
  },

  // ---- annotations

  annotations:: {
    // Grafana's own annotations and alerts, as every new dashboard has.
    builtin:: {
      builtIn: 1,
      datasource: { type: 'grafana', uid: '-- Grafana --' },
      enable: true,
      hide: true,
      iconColor: 'rgba(0, 211, 255, 1)',
      name: 'Annotations & Alerts',
      type: 'dashboard',
    },

    // An annotation wherever `expr` has a value.
    prometheus(name, expr, iconColor, titleFormat='', textFormat=''):: {
      name: name,
      datasource: ds,
      enable: true,
      hide: false,
      iconColor: iconColor,
      expr: expr,
      step: '$__interval',
      titleFormat: titleFormat,
      textFormat: textFormat,
    },
  },

  // ---- dashboard

  // Grafana's URL slug of a title: "deadman / Check" -> "deadman-check".
  slug(title)::
    local alnum(c) = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    local spaced = std.join('', [if alnum(c) then c else ' ' for c in std.stringChars(std.asciiLower(title))]);
    std.join('-', [w for w in std.split(spaced, ' ') if w != '']),

  // A dashboard: `name` is its key in _config.dashboardUids and
  // _config.dashboardTimeFrom. The datasource variable comes first; `rows`
  // are laid out by layout().
  dashboard(config, name, title, description, variables, rows, annotations=[])::
    local panels = $.layout(rows);
    local flat = allPanels(panels);
    local ids = [p.id for p in flat];
    local bad = [
      p.title
      for p in flat
      if p.type != 'row' && !(
        isDs(p.datasource)
        && hasText(p.fieldConfig.defaults.unit)
        && [t for t in p.targets if !isDs(t.datasource)] == []
      )
    ];
    local vars = [$.variables.datasource(config)] + variables;
    local badVars = [v.name for v in vars if v.type == 'query' && !isDs(v.datasource)];
    local badAnnotations = [a.name for a in annotations if !isDs(a.datasource)];
    assert std.objectHas(config.dashboardUids, name) : 'no dashboardUids.%s in _config' % name;
    local uid = config.dashboardUids[name];
    local uidChars = std.set(std.stringChars('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'));
    // What Grafana accepts as a uid.
    assert std.length(uid) >= 1 && std.length(uid) <= 40 && std.setDiff(std.set(std.stringChars(uid)), uidChars) == [] :
           'dashboardUids.%s %s: a uid is 1 to 40 letters, digits, - and _' % [name, std.toString(uid)];
    assert std.length(std.set(ids)) == std.length(ids) : '%s: panel ids %s are not unique' % [title, ids];
    assert bad == [] : '%s: panels without ${datasource} or unit: %s' % [title, bad];
    assert badVars == [] : '%s: variables not on ${datasource}: %s' % [title, badVars];
    assert badAnnotations == [] : '%s: annotations not on ${datasource}: %s' % [title, badAnnotations];
    {
      id: null,
      uid: uid,
      title: title,
      description: description,
      tags: config.dashboardTags,
      editable: true,
      // Shared crosshair: the time series of one dashboard are read together.
      graphTooltip: 1,
      schemaVersion: 39,
      version: 1,
      timezone: '',
      fiscalYearStartMonth: 0,
      liveNow: false,
      refresh: config.dashboardRefresh,
      time: { from: config.dashboardTimeFrom[name], to: 'now' },
      timepicker: {},
      weekStart: '',
      annotations: { list: [$.annotations.builtin] + annotations },
      // The other deadman dashboards: every one has all of dashboardTags.
      links: [{
        type: 'dashboards',
        tags: config.dashboardTags,
        asDropdown: false,
        includeVars: false,
        keepTime: true,
        targetBlank: false,
        title: 'deadman',
        icon: 'external link',
        tooltip: '',
        url: '',
      }],
      templating: { list: vars },
      panels: panels,
    },
}
