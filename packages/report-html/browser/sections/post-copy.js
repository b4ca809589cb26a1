'use strict';
/*
 * Post-copy, when a report carries it: `postCopy` with QEMU's blocktime statistics as the guest's present map
 * counts them (`faults`, `guestBlockedUs`, `vcpuFaults`, `vcpuBlockedUs`, and `latencyBuckets`: bucket b
 * counts faults that waited floor(log2(us)) = b, b = 0 below 2 us), and the series column `postCopyFaults`.
 */

function hasPostCopy(report) {
  return isSourceReport(report) && report.postCopy !== null && typeof report.postCopy === 'object';
}

/** A bucket's label: the latency range it counts. */
function latencyLabel(bucket) {
  const us = (n) => (n >= 1000 ? `${n / 1000} ms` : `${n} µs`);
  if (bucket === 0) return '< 2 µs';
  return `${us(2 ** bucket)}–${us(2 ** (bucket + 1))}`;
}

addSection({
  id: 'post-copy-summary',
  title: 'Post-copy',
  applies: hasPostCopy,
  html(report) {
    const pc = report.postCopy;
    const blocked = pc.guestBlockedUs === undefined ? null : pc.guestBlockedUs / 1000;
    return `<div class="figures">${figure('faults', 'postCopy.faults', pc.faults, fmtCount(pc.faults))}${figure('whole guest blocked', 'postCopy.guestBlockedUs', pc.guestBlockedUs, fmtMs(blocked))}</div>`;
  },
});

addSection({
  id: 'post-copy-latency',
  title: 'Post-copy fault latency',
  note: 'How long a vCPU waited for a page it faulted on (QEMU’s log2 buckets).',
  applies: (report) => hasPostCopy(report) && Array.isArray(report.postCopy.latencyBuckets) && report.postCopy.latencyBuckets.some((n) => n > 0),
  chart(report) {
    const buckets = report.postCopy.latencyBuckets;
    const last = buckets.reduce((max, n, b) => (n > 0 ? b : max), 0);
    const shown = buckets.slice(0, last + 1);
    return {
      type: 'bar',
      data: { labels: shown.map((_, b) => latencyLabel(b)), datasets: [{ label: 'faults', data: shown, backgroundColor: '#9b51e0' }] },
      options: baseOptions({ scales: { x: { title: { display: true, text: 'time the vCPU waited' } }, y: valueAxis('faults') } }),
    };
  },
});

addSection({
  id: 'post-copy-faults',
  title: 'Post-copy faults over time',
  height: 240,
  applies: (report) => hasSeries(report) && report.series.samples.some((sample) => sample.postCopyFaults !== undefined && sample.postCopyFaults !== null),
  chart(report) {
    return {
      type: 'line',
      data: { datasets: [{ label: 'faults so far', data: seriesPoints(report, 'postCopyFaults'), borderColor: '#9b51e0', backgroundColor: '#9b51e0', pointRadius: 0, borderWidth: 2 }] },
      options: baseOptions({ scales: { x: timeAxis(), y: valueAxis('faults') } }),
    };
  },
});
