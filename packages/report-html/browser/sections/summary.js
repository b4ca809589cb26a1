'use strict';
/* The figures an engineer reads first. Each figure carries its raw value in data-value for checking. */

function figure(label, field, value, text) {
  const raw = value === null || value === undefined ? '' : String(value);
  const long = String(text).length > 12 ? ' long' : '';
  return `<div class="figure"><div class="label">${escapeText(label)}</div><div class="value${long}" data-field="${field}" data-value="${escapeText(raw)}">${escapeText(text)}</div></div>`;
}

/** What became of the guest, for the statuses that need saying. */
const STATUS_WORDS = {
  failed: 'The guest stayed at the source with its memory intact (the migration failed before the destination committed, or an operator resumed it here).',
  cancelled: 'Cancelled before Complete went out: the guest kept running at the source, its memory intact.',
  'outcome-unknown': 'Complete went out and the outcome could not be learnt: the guest stays parked until an operator decides (source-agent resolve).',
  'not-migrated': 'No migration was started for this guest: it ran here until it finished or was stopped.',
};

function statusLine(report) {
  const status = report.status || 'unknown';
  const error = report.error ? `<div class="error" data-field="error"><code>${escapeText(report.error.code)}</code> ${escapeText(report.error.message)}</div>` : '';
  const words = STATUS_WORDS[status] ? `<p class="status-words">${escapeText(STATUS_WORDS[status])}</p>` : '';
  return `<div class="status-line"><span class="badge status-${escapeText(status)}" data-field="status">${escapeText(status)}</span>${error}</div>${words}`;
}

addSection({
  id: 'summary',
  title: 'Summary',
  applies: isSourceReport,
  html(report) {
    if (report.status === 'not-migrated') {
      const figures = [
        figure('guest memory', 'memoryBytes', report.memoryBytes, fmtBytes(report.memoryBytes)),
        figure('operations done', 'opsDone', report.opsDone, fmtCount(report.opsDone)),
      ];
      const digest = report.finalDigest ? `<p class="muted">final digest <code>${escapeText(report.finalDigest)}</code></p>` : '';
      return `${statusLine(report)}${digest}<div class="figures">${figures.join('')}</div>`;
    }
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
