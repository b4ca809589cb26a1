'use strict';
/* The figures an engineer reads first. Each figure carries its raw value in data-value for checking. */

function figure(label, field, value, text) {
  const raw = value === null || value === undefined ? '' : String(value);
  return `<div class="figure"><div class="label">${escapeText(label)}</div><div class="value" data-field="${field}" data-value="${escapeText(raw)}">${escapeText(text)}</div></div>`;
}

function statusLine(report) {
  const status = report.status || 'unknown';
  const error = report.error ? `<div class="error" data-field="error"><code>${escapeText(report.error.code)}</code> ${escapeText(report.error.message)}</div>` : '';
  return `<div class="status-line"><span class="badge status-${escapeText(status)}" data-field="status">${escapeText(status)}</span>${error}</div>`;
}

addSection({
  id: 'summary',
  title: 'Summary',
  applies: isSourceReport,
  html(report) {
    const rounds = report.rounds;
    const preCopy = rounds.filter((round) => !round.final).length;
    const limit = report.parameters ? report.parameters.downtimeLimitMs : null;
    const figures = [
      figure('total time', 'totalTimeMs', report.totalTimeMs, fmtMs(report.totalTimeMs)),
      figure('downtime', 'downtimeMs', report.downtimeMs, fmtMs(report.downtimeMs)),
      figure('downtime limit', 'parameters.downtimeLimitMs', limit, fmtMs(limit)),
      figure('setup', 'setupTimeMs', report.setupTimeMs, fmtMs(report.setupTimeMs)),
      figure('rounds', 'rounds.length', rounds.length, `${rounds.length} (${preCopy} pre-copy)`),
      figure('bytes on wire', 'bytesOnWire', report.bytesOnWire, fmtBytes(report.bytesOnWire)),
      figure('guest memory', 'memoryBytes', report.memoryBytes, fmtBytes(report.memoryBytes)),
      figure('memory sent', 'imageBytes', report.imageBytes, fmtBytes(report.imageBytes)),
      figure('policy', 'policy', report.policy, report.policy || '–'),
      figure('data channels', 'streams', report.streams, String(report.streams ?? '–')),
      figure('highest throttle', 'throttlePercent', report.throttlePercent, `${report.throttlePercent ?? 0} %`),
      figure('destination', 'target', report.target, report.target || '–'),
    ];
    const started = report.startedAt ? `<p class="muted">started ${escapeText(report.startedAt)} · migration ${escapeText(report.migrationId || '–')} · guest ${escapeText(report.guestId || '–')}</p>` : '';
    return `${statusLine(report)}${started}<div class="figures">${figures.join('')}</div>`;
  },
});

addSection({
  id: 'incoming-summary',
  title: 'Incoming migration (destination)',
  applies: (report) => Boolean(report) && typeof report.rounds === 'number',
  html(report) {
    const figures = [
      figure('total time', 'totalTimeMs', report.totalTimeMs, fmtMs(report.totalTimeMs)),
      figure('activation', 'activationMs', report.activationMs, fmtMs(report.activationMs)),
      figure('rounds', 'rounds', report.rounds, String(report.rounds)),
      figure('pages received', 'pagesReceived', report.pagesReceived, fmtCount(report.pagesReceived)),
      figure('bytes received', 'bytesReceived', report.bytesReceived, fmtBytes(report.bytesReceived)),
      figure('guest memory', 'memoryBytes', report.memoryBytes, fmtBytes(report.memoryBytes)),
      figure('source', 'source', report.source, report.source || '–'),
      figure('hosting ended', 'ended', report.ended, report.ended || '–'),
    ];
    const digest = report.receivedDigest ? `<p class="muted">image digest verified: <code>${escapeText(report.receivedDigest)}</code></p>` : '';
    return `${statusLine(report)}${digest}<div class="figures">${figures.join('')}</div>`;
  },
});
