'use strict';
/* A page of standalone figures (the benchmarks' --charts): each a Chart.js configuration drawn as given. */

function showFigures() {
  const figures = JSON.parse(document.getElementById('report-data').textContent);
  const app = document.getElementById('app');
  for (const figure of figures) {
    const el = document.createElement('section');
    el.className = 'card figure-card';
    el.id = `figure-${figure.id}`;
    el.innerHTML = `<h2>${escapeText(figure.title)}</h2>${figure.note ? `<p class="note">${escapeText(figure.note)}</p>` : ''}<div class="chart-box" style="height:${figure.height || 320}px"><canvas data-section="${escapeText(figure.id)}"></canvas></div>`;
    app.appendChild(el);
    const config = figure.config;
    config.options = baseOptions(config.options || {});
    new Chart(el.querySelector('canvas'), config);
  }
  window.livemigPage = { ready: true, sections: figures.map((figure) => figure.id) };
}

if (document.body.dataset.mode === 'figures') showFigures();
