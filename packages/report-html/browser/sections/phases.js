'use strict';
/* The phases on a timeline: one floating bar per phase, from when it was entered to when the next one was. */

function phaseSpans(report) {
  const marks = report.phases || [];
  const end = Math.max(report.totalTimeMs || 0, marks.length ? marks[marks.length - 1].atMs : 0);
  const spans = [];
  for (let i = 0; i < marks.length; i++) {
    const mark = marks[i];
    const next = marks[i + 1];
    // The final phase (completed, failed, ...) is a moment, not a span.
    if (!next && !(mark.phase in PHASE_COLORS)) continue;
    spans.push({ phase: mark.phase, from: mark.atMs, to: next ? next.atMs : end });
  }
  return spans;
}

addSection({
  id: 'phases',
  title: 'Phases',
  note: 'When the migration was in each phase. The downtime runs from the start of stop-and-copy to the destination’s Activated, inside activation; activation then also stops the guest’s workers here.',
  height: 170,
  applies: (report) => isSourceReport(report) && Array.isArray(report.phases) && phaseSpans(report).length > 0,
  chart(report) {
    const spans = phaseSpans(report);
    return {
      type: 'bar',
      data: {
        labels: ['phases'],
        datasets: spans.map((span) => ({
          label: `${span.phase} (${fmtMs(span.to - span.from)})`,
          data: [[span.from / 1000, span.to / 1000]],
          backgroundColor: PHASE_COLORS[span.phase] || '#ccc',
          borderSkipped: false,
          barPercentage: 0.9,
          categoryPercentage: 1,
          grouped: false,
        })),
      },
      options: baseOptions({
        indexAxis: 'y',
        scales: { x: timeAxis(), y: { display: false } },
      }),
    };
  },
});
