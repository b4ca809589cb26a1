'use strict';
/* The live statistics over time (the report's series, sampled every 100 ms): how fast pages left, how fast the guest dirtied them, what was left. */

const PAGE_BYTES = 4096;

addSection({
  id: 'bandwidth',
  title: 'Bandwidth, dirty rate and work left over time',
  note: 'Guest memory sent per second (over a 300 ms window) against the rate the guest dirtied it in the last round: pre-copy converges while blue stays above red. Wire bandwidth is lower when pages compress; the dashed line is the guest memory still to send.',
  applies: seriesMoved,
  chart(report) {
    return {
      type: 'line',
      data: {
        datasets: [
          seriesLine(report, 'memory sent (MB/s)', 'pagesPerSecond', '#2f80ed', { yAxisID: 'rate' }, PAGE_BYTES / 1e6),
          seriesLine(report, 'wire bandwidth (MB/s)', 'bandwidthBytesPerSec', '#27ae60', { yAxisID: 'rate', borderWidth: 1.5 }, 1e-6),
          seriesLine(report, 'dirty rate (MB/s)', 'dirtyPagesRate', '#eb5757', { yAxisID: 'rate', stepped: true }, PAGE_BYTES / 1e6),
          seriesLine(report, 'remaining (MiB)', 'remainingBytes', '#7b8794', { yAxisID: 'bytes', borderWidth: 1.5, borderDash: [6, 4] }, 1 / MiB),
        ],
      },
      options: baseOptions({
        scales: { x: timeAxis(), rate: valueAxis('MB/s', { position: 'left' }), bytes: valueAxis('MiB left', { position: 'right', grid: { drawOnChartArea: false } }) },
      }),
    };
  },
});

addSection({
  id: 'progress',
  title: 'Progress and throttle over time',
  note: 'Progress never goes back, though the guest keeps adding work; the throttle is auto-converge slowing the vCPUs.',
  height: 220,
  applies: seriesMoved,
  chart(report) {
    return {
      type: 'line',
      data: {
        datasets: [
          seriesLine(report, 'progress (%)', 'progressPercent', '#27ae60'),
          seriesLine(report, 'vCPU throttle (%)', 'throttlePercent', '#f2994a', { stepped: true }),
        ],
      },
      options: baseOptions({ scales: { x: timeAxis(), y: valueAxis('%', { max: 100 }) } }),
    };
  },
});
