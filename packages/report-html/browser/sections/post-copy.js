'use strict';
/*
 * Post-copy, when a report carries it (`postcopy`, after a switch). At the source: the page server's figures
 * (`prepaging`, `missingAtSwitch`, `pagesRequested`, `pagesAnswered`, `pagesPushed`, `pagesSentTwice`). At the
 * destination: QEMU's blocktime statistics as the guest's present map counts them (`faults`, `pagesRequested`,
 * `pagesAnsweredPlaced`, `vcpuFaults`, `vcpuBlocktimeMs`, `blocktimeMs`: all vCPUs blocked at once, and
 * `latencyBuckets`: bucket b counts faults that waited [2^b, 2^(b+1)) µs, bucket 0 everything under 2 µs). A series column `postCopyFaults`,
 * when a report has one, is drawn over time.
 */

function hasPostCopy(report) {
  return Boolean(report) && report.postcopy !== null && typeof report.postcopy === 'object';
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
  note: 'After the switch the guest ran at the destination; pages it touched before they came were asked for (faults), the rest were pushed.',
  applies: hasPostCopy,
  html(report) {
    const pc = report.postcopy;
    const figures = [];
    const add = (label, key, text) => {
      if (pc[key] !== undefined && pc[key] !== null) figures.push(figure(label, `postcopy.${key}`, pc[key], text(pc[key])));
    };
    add('push order', 'prepaging', String);
    add('missing at the switch', 'missingAtSwitch', fmtCount);
    add('faults', 'faults', fmtCount);
    add('pages requested', 'pagesRequested', fmtCount);
    add('pages answered', 'pagesAnswered', fmtCount);
    add('answers placed', 'pagesAnsweredPlaced', fmtCount);
    add('pages pushed', 'pagesPushed', fmtCount);
    add('pages sent twice', 'pagesSentTwice', fmtCount);
    add('whole guest blocked', 'blocktimeMs', fmtMs);
    return `<div class="figures">${figures.join('')}</div>`;
  },
});

addSection({
  id: 'post-copy-latency',
  title: 'Post-copy fault latency',
  note: 'How long a vCPU waited for a page it faulted on (QEMU’s log2 buckets).',
  applies: (report) => hasPostCopy(report) && Array.isArray(report.postcopy.latencyBuckets) && report.postcopy.latencyBuckets.some((n) => n > 0),
  chart(report) {
    const buckets = report.postcopy.latencyBuckets;
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
      data: { datasets: [seriesLine(report, 'faults so far', 'postCopyFaults', '#9b51e0')] },
      options: baseOptions({ scales: { x: timeAxis(), y: valueAxis('faults') } }),
    };
  },
});
