'use strict';
/* Per round: pages sent against pages the guest dirtied meanwhile (what the next round must send). */

addSection({
  id: 'rounds',
  title: 'Rounds: pages sent against pages dirtied meanwhile',
  note: 'Pre-copy converges when the red bars shrink round after round; the last round is stop-and-copy, sent with the vCPUs parked.',
  applies: (report) => isSourceReport(report) && report.rounds.length > 0,
  chart(report) {
    const labels = report.rounds.map((round) => (round.final ? `${round.round} (stop)` : String(round.round)));
    return {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: 'pages sent', data: report.rounds.map((round) => round.pagesSent), backgroundColor: '#2f80ed' },
          { label: 'of which resent', data: report.rounds.map((round) => round.pagesResent), backgroundColor: '#56ccf2' },
          { label: 'pages dirtied meanwhile', data: report.rounds.map((round) => round.pagesDirtiedMeanwhile), backgroundColor: '#eb5757' },
        ],
      },
      options: baseOptions({ scales: { x: { title: { display: true, text: 'round' } }, y: valueAxis('pages') } }),
    };
  },
  html(report) {
    const rows = report.rounds
      .map(
        (round) => `<tr data-round="${round.round}"><td>${round.round}${round.final ? ' stop' : ''}</td><td>${fmtCount(round.pagesSent)}</td><td>${fmtCount(round.pagesResent)}</td><td>${fmtCount(round.pagesDirtiedMeanwhile)}</td><td>${fmtBytes(round.bytesOnWire)}</td><td>${fmtMs(round.ms)}</td><td>${fmtRate(round.bandwidthBytesPerSec)}</td><td>${round.final ? '–' : fmtMs(round.expectedDowntimeMs)}</td><td>${round.throttlePercent} %</td></tr>`,
      )
      .join('');
    return `<table class="rounds"><thead><tr><th>round</th><th>pages sent</th><th>resent</th><th>dirtied meanwhile</th><th>on wire</th><th>time</th><th>bandwidth</th><th>expected downtime</th><th>throttle</th></tr></thead><tbody>${rows}</tbody></table>`;
  },
});
