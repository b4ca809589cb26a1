'use strict';
/* Units and words the page shows. Numbers are formatted here only, so the page and its tests agree. */

const MiB = 1024 * 1024;

function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return '–';
  if (Math.abs(bytes) >= 1024 * MiB) return `${(bytes / 1024 / MiB).toFixed(2)} GiB`;
  if (Math.abs(bytes) >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  if (Math.abs(bytes) >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  return `${ms.toFixed(1)} ms`;
}

function fmtRate(bytesPerSec) {
  if (bytesPerSec === null || bytesPerSec === undefined) return '–';
  return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
}

function fmtCount(n) {
  if (n === null || n === undefined) return '–';
  return Number(n).toLocaleString('en-US');
}

function escapeText(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Why pre-copy stopped, in words (the report's `switchoverReason`). */
const SWITCHOVER_WORDS = {
  'downtime-limit': 'The expected downtime fell under the downtime limit, so the guest was parked for stop-and-copy.',
  'nothing-dirty': 'No page was left dirty: another round could not shorten the downtime.',
  'xen-few-dirty': 'Fewer than 50 dirty pages were left (Xen’s rule).',
  'xen-max-rounds': 'Five rounds had been sent (Xen’s rule).',
  'patterns-drains': 'The dirty pages would drain within one 100 ms sampling interval (Ibrahim et al.).',
  'patterns-resent': 'At least 90 % of the round’s pages had also been sent the round before: pre-copy was chasing the same pages (Ibrahim et al.).',
  'patterns-stable': 'The number of dirty pages moved by 5 % or less since the last round: more rounds would not converge (Ibrahim et al.).',
  'max-rounds': 'The round limit (--max-rounds) was reached before the guest converged.',
  'max-time': 'The time limit (--max-time) was reached before the guest converged.',
};

function switchoverWords(reason) {
  if (!reason) return null;
  return SWITCHOVER_WORDS[reason] || `Pre-copy stopped for the reason “${reason}”.`;
}

/** One colour per phase, the same on every chart and on the live phase label. */
const PHASE_COLORS = {
  handshake: '#9aa5b1',
  reservation: '#7b8794',
  'pre-copy': '#2f80ed',
  'stop-and-copy': '#eb5757',
  'post-copy': '#9b51e0',
  commit: '#f2994a',
  activation: '#27ae60',
  'outcome-query': '#f2c94c',
};

const SERIES_COLORS = ['#2f80ed', '#eb5757', '#27ae60', '#f2994a', '#9b51e0', '#56ccf2', '#bb6bd9', '#6fcf97'];

function seriesColor(index) {
  return SERIES_COLORS[index % SERIES_COLORS.length];
}
