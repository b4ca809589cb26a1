'use strict';
/* Pages and bytes by encoding. Every name the report carries is drawn, so a new encoding (or a count of skipped pages) shows up without a change here. */

function encodingNames(report) {
  const names = new Set([...Object.keys(report.pagesSent || {}), ...Object.keys(report.bytesByEncoding || {})]);
  return [...names];
}

function hasBytes(report) {
  return Object.keys(report.bytesByEncoding || {}).length > 0;
}

addSection({
  id: 'encodings',
  title: 'Pages and bytes by encoding',
  note: 'Pages sent in each encoding (left axis) and the bytes their entries took on the wire (right axis); a raw page is 4 KiB.',
  applies: (report) => isSourceReport(report) && Object.values(report.pagesSent || {}).some((pages) => pages > 0),
  chart(report) {
    const names = encodingNames(report);
    const datasets = [{ label: 'pages', data: names.map((name) => (report.pagesSent || {})[name] || 0), backgroundColor: '#2f80ed', yAxisID: 'pages' }];
    // The live statistics count pages only; the bytes come with the report at the end.
    if (hasBytes(report)) {
      datasets.push({ label: 'bytes on wire (MiB)', data: names.map((name) => ((report.bytesByEncoding || {})[name] || 0) / MiB), backgroundColor: '#f2994a', yAxisID: 'bytes' });
    }
    return {
      type: 'bar',
      data: { labels: names, datasets },
      options: baseOptions({ scales: Object.assign({ pages: valueAxis('pages', { position: 'left' }) }, hasBytes(report) ? { bytes: valueAxis('MiB', { position: 'right', grid: { drawOnChartArea: false } }) } : {}) }),
    };
  },
  html(report) {
    const names = encodingNames(report);
    const rows = names
      .map((name) => {
        const pages = (report.pagesSent || {})[name] || 0;
        const bytes = hasBytes(report) ? (report.bytesByEncoding || {})[name] || 0 : null;
        const share = pages > 0 && bytes !== null ? `${((100 * bytes) / (pages * PAGE_BYTES)).toFixed(1)} %` : '–';
        return `<tr data-encoding="${escapeText(name)}"><td>${escapeText(name)}</td><td data-field="pagesSent.${escapeText(name)}" data-value="${pages}">${fmtCount(pages)}</td><td data-field="bytesByEncoding.${escapeText(name)}" data-value="${bytes ?? ''}">${fmtBytes(bytes)}</td><td>${share}</td></tr>`;
      })
      .join('');
    return `<table class="encodings"><thead><tr><th>encoding</th><th>pages</th><th>bytes on wire</th><th>of raw size</th></tr></thead><tbody>${rows}</tbody></table>`;
  },
});
