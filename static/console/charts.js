/* The console's one charts module: every chart on every page is drawn here, with the
   vendored Chart.js, from a spec the server puts in the page (rappi/console/charts.py).
   Loaded as a file after Chart.js; the Content-Security-Policy allows no inline script,
   and nothing here writes a style attribute or HTML from data.

   A chart:  <figure class="chart" id="sales-chart">
               <div class="chart__frame"><canvas role="img" aria-label="…" data-chart='{…}'>
             </figure>
   usually inside a region htmx may swap: each swap draws the new canvases and lets go of
   the charts whose canvas left the page.

   A spec:
     {type: "bar", labels, series: [{label, values, tone?}], stacked, horizontal, unit,
      line?: {label, values}, line_unit?, tones?: [per label]}
     {type: "line", labels, series, unit}
     {type: "doughnut", labels, values, unit, tones?}
   Values may be decimal strings ("18.50"); null leaves a gap. Colours are the custom
   properties of static/console/charts.css (--chart-1…8 in order, --chart-<tone> by
   meaning). Numbers are written as the page's language writes them (Spanish as in Peru:
   1,234.50), with the unit: "S/" → S/ 18.50, "min" → 42 min, "%" → 95.5%.
   Other scripts reach a chart with RappiCharts.get(figureId) → the Chart instance. */
(function () {
  "use strict";

  var Chart = window.Chart;
  var charts = [];  // {canvas, chart, raw}
  var PALETTE_SIZE = 8;

  // The page's language as Intl knows it: the console's Spanish is Peru's (a decimal point).
  function locale() {
    var lang = document.documentElement.lang || "en";
    return lang === "es" ? "es-PE" : lang;
  }

  function number(value) {
    if (value === null || value === undefined || value === "") { return null; }
    var parsed = Number(value);
    return isFinite(parsed) ? parsed : null;
  }

  function format(value, unit, brief) {
    if (value === null || value === undefined) { return "—"; }
    var money = unit === "S/";
    // An axis tick may drop a whole amount's cents (S/ 1,200); any other amount has two.
    var cents = brief && Math.round(value) === value ? 0 : 2;
    var digits = money ? {minimumFractionDigits: cents, maximumFractionDigits: cents}
      : {maximumFractionDigits: brief ? 1 : 2};
    var text = new Intl.NumberFormat(locale(), digits).format(value);
    if (money) { return "S/ " + text; }
    if (unit === "%") { return text + "%"; }
    return unit ? text + " " + unit : text;
  }

  function colour(style, name, fallback) {
    return style.getPropertyValue("--chart-" + name).trim() || fallback;
  }

  function palette(style, index, tone) {
    return (tone && colour(style, tone, "")) || colour(style, String(index % PALETTE_SIZE + 1), "#0072b2");
  }

  function allWhole(lists) {
    return lists.every(function (values) {
      return values.every(function (value) { return value === null || Math.round(value) === value; });
    });
  }

  function valueAxis(unit, whole, extra) {
    var ticks = {callback: function (value) { return format(value, unit, true); }};
    if (whole) { ticks.precision = 0; }  // counts: no 2.5 orders on the axis
    // Some room over the tallest bar, so it does not touch the frame.
    return Object.assign({beginAtZero: true, grace: "5%", ticks: ticks}, extra || {});
  }

  // Many labels along the bottom (30 days on a tablet) stay level and thin out; a few
  // (statuses, levels) all show, slanted if they must. Down the side every one shows.
  var CROWDED = 12;

  function labelTicks(horizontal, count) {
    if (horizontal || count <= CROWDED) { return {autoSkip: false, maxRotation: horizontal ? 0 : 45}; }
    return {autoSkip: true, maxRotation: 0};
  }

  function barConfig(spec, style) {
    var values = spec.series.map(function (series) { return series.values.map(number); });
    var single = spec.series.length === 1 && spec.tones;
    var datasets = spec.series.map(function (series, index) {
      var fill = single ? spec.tones.map(function (tone, at) { return palette(style, at, tone); })
        : palette(style, index, series.tone);
      return {
        type: "bar", label: series.label, data: values[index], backgroundColor: fill,
        borderColor: fill, borderWidth: 1, maxBarThickness: 36, yAxisID: spec.horizontal ? undefined : "y",
        xAxisID: spec.horizontal ? "x" : undefined, unit: spec.unit, order: 2,
      };
    });
    var valueKey = spec.horizontal ? "x" : "y";
    var scales = {};
    scales[valueKey] = valueAxis(spec.unit, allWhole(values), {stacked: spec.stacked});
    scales[spec.horizontal ? "y" : "x"] = {stacked: spec.stacked, grid: {display: false}, ticks: labelTicks(spec.horizontal, spec.labels.length)};
    if (spec.line && !spec.horizontal) {
      var lineValues = spec.line.values.map(number);
      var stroke = palette(style, spec.series.length, spec.line.tone);
      datasets.push({
        type: "line", label: spec.line.label, data: lineValues, borderColor: stroke,
        backgroundColor: stroke, yAxisID: "y2", unit: spec.line_unit, order: 1,
        pointRadius: 3, borderWidth: 2, spanGaps: false,
      });
      scales.y2 = valueAxis(spec.line_unit, allWhole([lineValues]), {position: "right", grid: {drawOnChartArea: false}});
    }
    return {
      type: "bar",
      data: {labels: spec.labels, datasets: datasets},
      options: {indexAxis: spec.horizontal ? "y" : "x", scales: scales},
      legend: datasets.length > 1,
    };
  }

  function lineConfig(spec, style) {
    var values = spec.series.map(function (series) { return series.values.map(number); });
    var datasets = spec.series.map(function (series, index) {
      var stroke = palette(style, index, series.tone);
      return {
        label: series.label, data: values[index], borderColor: stroke, backgroundColor: stroke,
        unit: spec.unit, pointRadius: 3, borderWidth: 2, spanGaps: false,
      };
    });
    return {
      type: "line",
      data: {labels: spec.labels, datasets: datasets},
      options: {scales: {y: valueAxis(spec.unit, allWhole(values)), x: {grid: {display: false}, ticks: labelTicks(false, spec.labels.length)}}},
      legend: datasets.length > 1,
    };
  }

  function doughnutConfig(spec, style) {
    var fills = spec.labels.map(function (_label, index) {
      return palette(style, index, spec.tones && spec.tones[index]);
    });
    return {
      type: "doughnut",
      data: {labels: spec.labels, datasets: [{
        data: spec.values.map(number), backgroundColor: fills, borderColor: colour(style, "paper", "#fff"),
        borderWidth: 2, unit: spec.unit,
      }]},
      options: {plugins: {legend: {position: "right"}}},
      legend: true,
    };
  }

  var BUILDERS = {bar: barConfig, line: lineConfig, doughnut: doughnutConfig};

  function tooltipLabel(context) {
    var dataset = context.dataset;
    var value = format(number(context.raw), dataset.unit);
    if (context.chart.config.type === "doughnut") {
      var total = dataset.data.reduce(function (sum, part) { return sum + (part || 0); }, 0);
      var share = total ? " (" + format(100 * (number(context.raw) || 0) / total, "%", true) + ")" : "";
      return context.label + ": " + value + share;
    }
    return dataset.label + ": " + value;
  }

  // Horizontal bars get a row each: the frame grows with their count (a CSS property set
  // from script, which the policy allows; a style attribute in the HTML it would not).
  function sizeFrame(canvas, spec) {
    if (spec.type !== "bar" || !spec.horizontal) { return; }
    var rows = Math.max(spec.labels.length, 1) * Math.max(spec.series.length, 1);
    canvas.parentNode.style.height = Math.max(160, 48 + rows * (spec.stacked ? 26 : 22)) + "px";
  }

  function draw(canvas) {
    var raw = canvas.getAttribute("data-chart");
    var existing = entryOf(canvas);
    if (existing && existing.raw === raw) { return existing.chart; }
    if (existing) { forget(existing); }
    var spec = JSON.parse(raw);
    var build = BUILDERS[spec.type];
    if (!build || !Chart) { return null; }
    var style = window.getComputedStyle(canvas.closest(".chart") || canvas);
    var config = build(spec, style);
    var ink = colour(style, "ink", "#1f2933");
    var grid = colour(style, "grid", "#d9e2ec");
    Object.keys(config.options.scales || {}).forEach(function (key) {
      var scale = config.options.scales[key];
      scale.ticks = Object.assign({color: ink}, scale.ticks || {});
      scale.grid = Object.assign({color: grid}, scale.grid || {});
      scale.border = {color: grid};
    });
    sizeFrame(canvas, spec);
    var options = Object.assign({
      animation: false,
      responsive: true,
      maintainAspectRatio: false,  // the frame (charts.css) holds the shape
      locale: locale(),
      color: ink,
      font: {family: window.getComputedStyle(document.body).fontFamily},
      interaction: {mode: spec.type === "doughnut" ? "nearest" : "index", intersect: spec.type === "doughnut"},
    }, config.options);
    var plugins = config.options.plugins || {};
    options.plugins = {
      legend: Object.assign({display: config.legend, labels: {
        color: ink, boxWidth: 12,
        // In the spec's order (Chart.js would list the line over the bars first).
        sort: function (a, b) { return (a.datasetIndex - b.datasetIndex) || (a.index - b.index); },
      }}, plugins.legend),
      tooltip: {callbacks: {label: tooltipLabel}, itemSort: function (a, b) { return a.datasetIndex - b.datasetIndex; }},
    };
    var chart = new Chart(canvas, {type: config.type, data: config.data, options: options});
    charts.push({canvas: canvas, chart: chart, raw: raw});
    var figure = canvas.closest(".chart");
    if (figure) {
      figure.setAttribute("data-drawn", "true");
      figure.dispatchEvent(new CustomEvent("rappi:chart-drawn", {bubbles: true, detail: {chart: chart, spec: spec}}));
    }
    return chart;
  }

  function entryOf(canvas) {
    for (var i = 0; i < charts.length; i += 1) {
      if (charts[i].canvas === canvas) { return charts[i]; }
    }
    return null;
  }

  function forget(entry) {
    entry.chart.destroy();
    charts.splice(charts.indexOf(entry), 1);
  }

  // Charts whose canvas an htmx swap took out of the page: their resize watchers would
  // otherwise keep them (and the old canvas) alive.
  function sweep() {
    charts.slice().forEach(function (entry) {
      if (!document.documentElement.contains(entry.canvas)) { forget(entry); }
    });
  }

  function drawAll(root) {
    sweep();
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      try {
        draw(canvas);
      } catch (error) {
        // One broken chart must not keep the others from being drawn.
        if (window.console) { window.console.error("chart", canvas.closest(".chart"), error); }
      }
    });
  }

  function start() { drawAll(document); }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", function () { drawAll(document); });

  window.RappiCharts = {
    get: function (id) {
      var figure = document.getElementById(id);
      var canvas = figure && figure.querySelector("canvas[data-chart]");
      var entry = canvas && entryOf(canvas);
      return entry ? entry.chart : null;
    },
    draw: draw,
    drawAll: drawAll,
    format: format,
  };
}());
