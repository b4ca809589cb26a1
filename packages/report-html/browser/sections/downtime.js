'use strict';
/* Expected against actual downtime, and where the actual downtime went. */

/** A horizontal line across the time axis, drawn as a two-point dataset. */
function levelLine(label, value, fromS, toS, color) {
  return { label, data: [{ x: fromS, y: value }, { x: toS, y: value }], borderColor: color, backgroundColor: color, borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5 };
}

addSection({
  id: 'expected-downtime',
  title: 'Expected against actual downtime',
  note: 'The estimate the switchover policy saw after each round (remaining dirty bytes / bandwidth + the fixed switchover cost), against the limit and the downtime measured at the end.',
  applies: (report) => isSourceReport(report) && report.rounds.some((round) => !round.final),
  chart(report) {
    const preCopy = report.rounds.filter((round) => !round.final);
    // When the policy saw each estimate: the round's end (reports before endedAtMs was kept: its cumulated time).
    let cumulated = 0;
    const roundEnds = preCopy.map((round) => {
      cumulated += round.ms;
      return { x: (round.endedAtMs ?? cumulated) / 1000, y: round.expectedDowntimeMs };
    });
    const end = Math.max((report.totalTimeMs || 0) / 1000, roundEnds.length ? roundEnds[roundEnds.length - 1].x : 0);
    const datasets = [{ label: 'expected downtime after each round (ms)', data: roundEnds, borderColor: '#2f80ed', backgroundColor: '#2f80ed', pointRadius: 4, borderWidth: 2 }];
    if (hasSeries(report)) {
      datasets.push(seriesLine(report, 'expected downtime, live (ms)', 'expectedDowntimeMs', '#56ccf2', { borderWidth: 1, stepped: true }));
    }
    const limit = report.parameters ? report.parameters.downtimeLimitMs : null;
    if (limit !== null && limit !== undefined) datasets.push(levelLine(`limit ${fmtMs(limit)}`, limit, 0, end, '#7b8794'));
    if (report.downtimeMs !== null && report.downtimeMs !== undefined) datasets.push(levelLine(`actual ${fmtMs(report.downtimeMs)}`, report.downtimeMs, 0, end, '#eb5757'));
    return { type: 'line', data: { datasets }, options: baseOptions({ scales: { x: timeAxis(), y: valueAxis('ms') } }) };
  },
});

/** The downtime's parts, from the report's times (all measured at the source from the vCPU park). */
function downtimeParts(report) {
  const parkToCommit = report.timeToCommitMs !== null && report.timeToParkMs !== null ? report.timeToCommitMs - report.timeToParkMs : null;
  const parts = [{ name: 'stop-and-copy: last pages, CPU state, Complete sent', ms: report.sourceDowntimeMs, color: '#eb5757' }];
  if (parkToCommit !== null && report.sourceDowntimeMs !== null) {
    parts.push({ name: 'commit: destination drains, verifies, journals (Complete → Committed)', ms: parkToCommit - report.sourceDowntimeMs, color: '#f2994a' });
    if (report.downtimeMs !== null) parts.push({ name: 'activation: Confirm, vCPUs started there (Committed → Activated)', ms: report.downtimeMs - parkToCommit, color: '#27ae60' });
  }
  return parts.filter((part) => part.ms !== null && part.ms !== undefined).map((part) => Object.assign(part, { ms: Math.round(part.ms * 10) / 10 }));
}

addSection({
  id: 'downtime-split',
  title: 'Where the downtime went',
  note: 'From the vCPU park at the source to the destination’s Activated, split at Complete and Committed.',
  height: 160,
  applies: (report) => isSourceReport(report) && report.sourceDowntimeMs !== null && report.sourceDowntimeMs !== undefined,
  chart(report) {
    return {
      type: 'bar',
      data: {
        labels: ['downtime'],
        datasets: downtimeParts(report).map((part) => ({ label: `${part.name}: ${fmtMs(part.ms)}`, data: [part.ms], backgroundColor: part.color })),
      },
      options: baseOptions({ indexAxis: 'y', scales: { x: valueAxis('ms', { stacked: true }), y: { stacked: true, display: false } } }),
    };
  },
});
