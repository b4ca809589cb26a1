'use strict';
/* Why pre-copy stopped, in words, with the numbers of the round that decided it. */

addSection({
  id: 'switchover',
  title: 'Why it switched over',
  applies: (report) => isSourceReport(report) && Boolean(report.switchoverReason),
  html(report) {
    const last = report.rounds.filter((round) => !round.final).at(-1);
    const limit = report.parameters ? report.parameters.downtimeLimitMs : null;
    const facts = last
      ? `<p class="muted">After round ${last.round}: ${fmtCount(last.pagesDirtiedMeanwhile)} pages dirty, expected downtime ${fmtMs(last.expectedDowntimeMs)} (of which ${fmtMs(last.switchoverCostMs)} fixed cost), limit ${fmtMs(limit)}, bandwidth ${fmtRate(last.bandwidthBytesPerSec)}.</p>`
      : '';
    return `<p class="reason"><code data-field="switchoverReason">${escapeText(report.switchoverReason)}</code> ${escapeText(switchoverWords(report.switchoverReason))}</p>${facts}`;
  },
});
