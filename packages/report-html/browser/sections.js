'use strict';
/*
 * The page is a list of sections. Each section says when it applies (the report has its fields) and how it
 * draws: `chart(report)` returns a Chart.js configuration, `html(report)` returns markup. A later mode adds
 * a chart by adding a file that calls addSection; the view draws it whenever a report carries its fields.
 *
 *   addSection({ id, title, note?, applies(report), chart(report) | html(report), height? })
 */
const SECTIONS = [];

function addSection(section) {
  SECTIONS.push(section);
}

/** Whether the report is an outgoing migration's (a source report): its rounds are a list. */
function isSourceReport(report) {
  return Boolean(report) && Array.isArray(report.rounds);
}

function hasSeries(report) {
  return isSourceReport(report) && report.series && Array.isArray(report.series.samples) && report.series.samples.length > 1;
}

/** A series in which pages moved: a migration that failed at its handshake has only zeros to draw. */
function seriesMoved(report) {
  return hasSeries(report) && report.series.samples.some((sample) => sample.pagesTransferred > 0);
}

/** Options every chart shares: no animation (the live page redraws ten times a second), a legend on top. */
function baseOptions(extra) {
  return Object.assign(
    {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: 'top', labels: { boxWidth: 12 } } },
    },
    extra,
  );
}

/** A linear x axis in seconds since the migration started. */
function timeAxis() {
  return { type: 'linear', title: { display: true, text: 'time since start (s)' }, ticks: { maxTicksLimit: 12 } };
}

function valueAxis(text, extra) {
  return Object.assign({ type: 'linear', beginAtZero: true, title: { display: true, text } }, extra);
}

/** Points {x: seconds, y} of one series column, null values left out. */
function seriesPoints(report, field, scale) {
  const factor = scale || 1;
  return report.series.samples
    .filter((sample) => sample[field] !== null && sample[field] !== undefined)
    .map((sample) => ({ x: sample.atMs / 1000, y: sample[field] * factor }));
}

/**
 * A line of one series column in `color`, without point markers; `extra` adds or overrides dataset options
 * (width, axis, stepped, dash).
 */
function seriesLine(report, label, field, color, extra, scale) {
  return Object.assign({ label, data: seriesPoints(report, field, scale), borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2 }, extra);
}
