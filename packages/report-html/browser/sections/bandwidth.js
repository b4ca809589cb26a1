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
          { label: 'memory sent (MB/s)', data: seriesPoints(report, 'pagesPerSecond', PAGE_BYTES / 1e6), borderColor: '#2f80ed', backgroundColor: '#2f80ed', yAxisID: 'rate', pointRadius: 0, borderWidth: 2 },
          { label: 'wire bandwidth (MB/s)', data: seriesPoints(report, 'bandwidthBytesPerSec', 1e-6), borderColor: '#27ae60', backgroundColor: '#27ae60', yAxisID: 'rate', pointRadius: 0, borderWidth: 1.5 },
          { label: 'dirty rate (MB/s)', data: seriesPoints(report, 'dirtyPagesRate', PAGE_BYTES / 1e6), borderColor: '#eb5757', backgroundColor: '#eb5757', yAxisID: 'rate', pointRadius: 0, borderWidth: 2, stepped: true },
          { label: 'remaining (MiB)', data: seriesPoints(report, 'remainingBytes', 1 / MiB), borderColor: '#7b8794', backgroundColor: '#7b8794', yAxisID: 'bytes', pointRadius: 0, borderWidth: 1.5, borderDash: [6, 4] },
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
          { label: 'progress (%)', data: seriesPoints(report, 'progressPercent'), borderColor: '#27ae60', backgroundColor: '#27ae60', pointRadius: 0, borderWidth: 2 },
          { label: 'vCPU throttle (%)', data: seriesPoints(report, 'throttlePercent'), borderColor: '#f2994a', backgroundColor: '#f2994a', pointRadius: 0, borderWidth: 2, stepped: true },
        ],
      },
      options: baseOptions({ scales: { x: timeAxis(), y: valueAxis('%', { max: 100 }) } }),
    };
  },
});
