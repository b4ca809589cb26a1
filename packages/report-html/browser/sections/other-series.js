'use strict';
/*
 * Any column of the series that no other section draws: a later mode adds a counter to the source's
 * SAMPLED_FIELDS (post-copy's faults, say) and it is drawn here until it gets a section of its own.
 */
const SERIES_DRAWN_ELSEWHERE = new Set([
  'atMs', 'round', 'transferredBytes', 'pagesTransferred', 'remainingBytes', 'dirtyPagesRate', 'bandwidthBytesPerSec', 'pagesPerSecond', 'expectedDowntimeMs', 'throttlePercent', 'progressPercent', 'postCopyFaults',
]);

function otherSeriesFields(report) {
  const fields = new Set();
  for (const sample of report.series.samples) for (const key of Object.keys(sample)) if (!SERIES_DRAWN_ELSEWHERE.has(key)) fields.add(key);
  return [...fields];
}

addSection({
  id: 'other-series',
  title: 'Other counters over time',
  applies: (report) => hasSeries(report) && otherSeriesFields(report).length > 0,
  chart(report) {
    const datasets = otherSeriesFields(report).map((field, index) => seriesLine(report, field, field, seriesColor(index)));
    return { type: 'line', data: { datasets }, options: baseOptions({ scales: { x: timeAxis(), y: valueAxis('value') } }) };
  },
});
