'use strict';
/* Pages and bytes by encoding. Every name the report carries is drawn, so a new encoding (or a count of skipped pages) shows up without a change here. */

function encodingNames(report) {
  const names = new Set([...Object.keys(report.pagesSent || {}), ...Object.keys(report.bytesByEncoding || {})]);
  return [...names];
}

addSection({
  id: 'encodings',
  title: 'Pages and bytes by encoding',
  note: 'Pages sent in each encoding (left axis) and the bytes their entries took on the wire (right axis); a raw page is 4 KiB.',
  applies: (report) => isSourceReport(report) && encodingNames(report).length > 0,
  chart(report) {
    const names = encodingNames(report);
    return {
      type: 'bar',
      data: {
        labels: names,
        datasets: [
          { label: 'pages', data: names.map((name) => (report.pagesSent || {})[name] || 0), backgroundColor: '#2f80ed', yAxisID: 'pages' },
          { label: 'bytes on wire (MiB)', data: names.map((name) => ((report.bytesByEncoding || {})[name] || 0) / MiB), backgroundColor: '#f2994a', yAxisID: 'bytes' },
        ],
      },
      options: baseOptions({ scales: { pages: valueAxis('pages', { position: 'left' }), bytes: valueAxis('MiB', { position: 'right', grid: { drawOnChartArea: false } }) } }),
    };
  },
  html(report) {
    const names = encodingNames(report);
    const rows = names
      .map((name) => {
        const pages = (report.pagesSent || {})[name] || 0;
        const bytes = (report.bytesByEncoding || {})[name] || 0;
        return `<tr data-encoding="${escapeText(name)}"><td>${escapeText(name)}</td><td data-field="pagesSent.${escapeText(name)}" data-value="${pages}">${fmtCount(pages)}</td><td data-field="bytesByEncoding.${escapeText(name)}" data-value="${bytes}">${fmtBytes(bytes)}</td><td>${pages > 0 ? ((100 * bytes) / (pages * PAGE_BYTES)).toFixed(1) + ' %' : '–'}</td></tr>`;
      })
      .join('');
    return `<table class="encodings"><thead><tr><th>encoding</th><th>pages</th><th>bytes on wire</th><th>of raw size</th></tr></thead><tbody>${rows}</tbody></table>`;
  },
});
