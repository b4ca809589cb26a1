'use strict';
/*
 * The live dashboard (GET / on an agent's control API): follows /events and draws the latest outgoing
 * migration with the same sections as a saved report. Until `done` brings the real report, the report is
 * built from the events: `progress` samples feed the series, `round` the rounds, `phase` the timeline.
 */

const live = { id: null, report: null, progressFloor: 0, view: null, events: 0, sampledFields: [], incomingTimer: 0 };

function reportFromStats(stats) {
  return {
    status: stats.phase,
    migrationId: stats.id,
    guestId: stats.guestId,
    target: stats.target,
    policy: stats.parameters ? stats.parameters.policy : '',
    parameters: stats.parameters,
    streams: null,
    totalTimeMs: stats.elapsedMs,
    downtimeMs: stats.downtimeMs,
    sourceDowntimeMs: stats.sourceDowntimeMs,
    timeToCommitMs: null,
    timeToParkMs: null,
    setupTimeMs: stats.setupTimeMs,
    switchoverReason: stats.switchoverReason,
    throttlePercent: stats.throttlePercent,
    bytesOnWire: stats.transferredBytes,
    imageBytes: stats.pagesTransferredBytes,
    memoryBytes: stats.totalBytes,
    pagesSent: stats.pagesByEncoding,
    bytesByEncoding: {},
    error: stats.error,
    rounds: [],
    phases: [{ phase: stats.phase, atMs: stats.elapsedMs }],
    series: { intervalMs: 100, samples: [] },
  };
}

/** One sample of the series from a `progress` event: the fields the agent's reports sample (its SAMPLED_FIELDS). */
function sampleOf(stats) {
  const sample = { atMs: stats.elapsedMs };
  for (const field of live.sampledFields) sample[field] = stats[field] ?? null;
  return sample;
}

function absorbStats(stats) {
  if (!live.report || live.report.migrationId !== stats.id) {
    live.id = stats.id;
    live.report = reportFromStats(stats);
    live.progressFloor = 0;
  }
  const report = live.report;
  Object.assign(report, {
    status: stats.phase,
    totalTimeMs: stats.elapsedMs,
    downtimeMs: stats.downtimeMs,
    sourceDowntimeMs: stats.sourceDowntimeMs,
    setupTimeMs: stats.setupTimeMs,
    switchoverReason: stats.switchoverReason,
    bytesOnWire: stats.transferredBytes,
    imageBytes: stats.pagesTransferredBytes,
    pagesSent: stats.pagesByEncoding,
    parameters: stats.parameters,
    error: stats.error,
  });
  report.series.samples.push(sampleOf(stats));
  // The bar never moves back, whatever order the events come in.
  live.progressFloor = Math.max(live.progressFloor, stats.progressPercent || 0);
  drawProgress(stats);
}

function drawProgress(stats) {
  document.getElementById('live-head').hidden = false;
  document.getElementById('no-outgoing').hidden = true;
  const percent = live.progressFloor;
  document.getElementById('progress-fill').style.width = `${percent}%`;
  const bar = document.getElementById('progress');
  bar.dataset.percent = String(percent);
  bar.setAttribute('aria-valuenow', String(percent));
  document.getElementById('progress-text').textContent = `${percent.toFixed(1)} %`;
  const phase = document.getElementById('phase');
  phase.textContent = stats.phase;
  phase.style.background = PHASE_COLORS[stats.phase] || '#4f5b66';
  document.getElementById('live-facts').textContent =
    `round ${stats.round} · sent ${fmtBytes(stats.transferredBytes)} · remaining ${fmtBytes(stats.remainingBytes)} · ${fmtRate(stats.bandwidthBytesPerSec)} · expected downtime ${fmtMs(stats.expectedDowntimeMs)} · ${fmtMs(stats.elapsedMs)}`;
}

function redraw() {
  if (live.report) live.view.update(live.report);
  window.livemigPage = { ready: true, live: true, id: live.id, events: live.events, progress: live.progressFloor, sections: live.view.sections() };
}

function onEvent(name, handler) {
  live.source.addEventListener(name, (event) => {
    live.events += 1;
    handler(JSON.parse(event.data));
    redraw();
  });
}

async function startLive() {
  const page = JSON.parse(document.getElementById('report-data').textContent);
  const agent = page.agent;
  live.sampledFields = page.sampledFields || [];
  const app = document.getElementById('app');
  // The logout form ends the session a control token's login started (without a token it only reloads).
  app.innerHTML = `<header><h1>livemig ${escapeText(agent)} agent: live</h1><form method="post" action="/logout" id="logout"><button type="submit">log out</button></form><p class="muted" id="connection">connecting to /events…</p>
    <p id="no-outgoing" class="muted">No outgoing migration yet: this page draws the next one as it runs.</p>
    <div class="live-head" id="live-head" hidden><span id="phase" class="phase">–</span>
    <div id="progress" class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" data-percent="0"><div id="progress-fill"></div><span id="progress-text">0.0 %</span></div></div>
    <p id="live-facts" class="muted"></p></header><section class="card" id="incoming" hidden><h2>Incoming migrations</h2><div id="incoming-list"></div></section><div id="sections"></div>`;
  live.view = createView(document.getElementById('sections'));
  const list = await (await fetch('/migrations')).json();
  showIncoming(list.incoming || []);
  const last = (list.outgoing || []).at(-1);
  if (last) {
    const view = await (await fetch(`/migrations/${encodeURIComponent(last.id)}`)).json();
    absorbStats(view);
    if (view.report) live.report = view.report;
  }
  live.source = new EventSource('/events');
  live.source.onopen = () => (document.getElementById('connection').textContent = 'following /events');
  live.source.onerror = () => (document.getElementById('connection').textContent = 'connection to /events lost; retrying…');
  onEvent('migration', (data) => {
    live.id = data.id;
    live.report = null;
  });
  onEvent('progress', absorbStats);
  onEvent('phase', (data) => {
    absorbStats(data.stats);
    const marks = live.report.phases;
    if (marks[marks.length - 1].phase !== data.phase) marks.push({ phase: data.phase, atMs: data.stats.elapsedMs });
  });
  onEvent('round', (round) => {
    if (live.report && round.id === live.id) live.report.rounds.push(round);
  });
  onEvent('done', (data) => {
    if (data.id !== live.id && live.id !== null) return;
    live.report = data.report;
    live.progressFloor = data.report.status === 'completed' ? 100 : live.progressFloor;
    drawProgress({ phase: data.report.status, round: data.report.rounds.length, transferredBytes: data.report.bytesOnWire, remainingBytes: 0, bandwidthBytesPerSec: null, expectedDowntimeMs: null, elapsedMs: data.report.totalTimeMs });
  });
  for (const name of ['incoming', 'arrived', 'incoming-failed']) onEvent(name, refreshIncoming);
  redraw();
}

/** The destination sends no progress events for what it receives: while a migration comes in, ask every second. */
function refreshIncoming() {
  clearTimeout(live.incomingTimer);
  return fetch('/migrations')
    .then((response) => response.json())
    .then((body) => showIncoming(body.incoming || []));
}

function showIncoming(incoming) {
  if (incoming.some((entry) => entry.status === 'receiving' || entry.status === 'committed')) live.incomingTimer = setTimeout(refreshIncoming, 1000);
  const box = document.getElementById('incoming');
  box.hidden = incoming.length === 0;
  document.getElementById('incoming-list').innerHTML = `<table><thead><tr><th>id</th><th>status</th><th>source</th><th>rounds</th><th>pages received</th><th>total time</th></tr></thead><tbody>${incoming
    .map((entry) => `<tr><td><code>${escapeText(entry.id)}</code></td><td>${escapeText(entry.status)}</td><td>${escapeText(entry.source || '')}</td><td>${entry.rounds ?? ''}</td><td>${fmtCount(entry.pagesReceived)}</td><td>${fmtMs(entry.totalTimeMs)}</td></tr>`)
    .join('')}</tbody></table>`;
}

startLive().catch((error) => {
  document.getElementById('app').insertAdjacentHTML('afterbegin', `<p class="error">dashboard failed: ${escapeText(error.message)}</p>`);
});
