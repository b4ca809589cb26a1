'use strict';
/*
 * Draws a report into a container, section by section, and redraws it in place when the report changes (the
 * live dashboard calls update ten times a second). A section whose fields appear later is inserted in its
 * place; one whose fields are gone is removed.
 */

function createView(container) {
  const drawn = new Map(); // section id -> { element, chart, htmlBox }
  let nested = null;

  function element(section) {
    const el = document.createElement('section');
    el.id = `section-${section.id}`;
    el.className = 'card';
    el.innerHTML = `<h2>${escapeText(section.title)}</h2>${section.note ? `<p class="note">${escapeText(section.note)}</p>` : ''}`;
    const entry = { element: el, chart: null, htmlBox: null };
    if (section.chart) {
      const box = document.createElement('div');
      box.className = 'chart-box';
      box.style.height = `${section.height || 300}px`;
      const canvas = document.createElement('canvas');
      canvas.dataset.section = section.id;
      box.appendChild(canvas);
      el.appendChild(box);
    }
    if (section.html) {
      entry.htmlBox = document.createElement('div');
      entry.htmlBox.className = 'section-html';
      el.appendChild(entry.htmlBox);
    }
    return entry;
  }

  function drawSection(section, entry, report) {
    if (section.chart) {
      const config = section.chart(report);
      if (entry.chart && entry.chart.config.type === config.type) {
        entry.chart.data = config.data;
        entry.chart.options = config.options;
        entry.chart.update('none');
      } else {
        if (entry.chart) entry.chart.destroy();
        entry.chart = new Chart(entry.element.querySelector('canvas'), config);
      }
    }
    if (section.html) entry.htmlBox.innerHTML = section.html(report);
  }

  function update(report) {
    let previous = null;
    for (const section of SECTIONS) {
      let entry = drawn.get(section.id);
      if (!section.applies(report)) {
        if (entry) {
          if (entry.chart) entry.chart.destroy();
          entry.element.remove();
          drawn.delete(section.id);
        }
        continue;
      }
      if (!entry) {
        entry = element(section);
        drawn.set(section.id, entry);
        if (previous) previous.after(entry.element);
        else container.prepend(entry.element);
      }
      try {
        drawSection(section, entry, report);
      } catch (error) {
        entry.element.classList.add('broken');
        console.error(`section ${section.id}:`, error);
      }
      previous = entry.element;
    }
    // A destination's report of a guest it sent onward carries that migration's source report.
    if (report && report.onward) {
      if (!nested) {
        const holder = document.createElement('div');
        holder.className = 'onward';
        holder.innerHTML = '<h2 class="onward-title">Onward migration (from this host)</h2>';
        const inner = document.createElement('div');
        holder.appendChild(inner);
        container.appendChild(holder);
        nested = createView(inner);
      }
      nested.update(report.onward);
    }
  }

  return { update, sections: () => [...drawn.keys()] };
}

function reportHeading(report) {
  if (!report) return 'livemig';
  if (isSourceReport(report) && !report.target) return `Guest ${report.guestId || '?'}`;
  if (isSourceReport(report)) return `Migration of guest ${report.guestId || '?'} to ${report.target}`;
  return `Incoming migration ${report.id || ''} from ${report.source || '?'}`;
}

/** A saved report: the data is in the page. */
function showSavedReport() {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const app = document.getElementById('app');
  app.innerHTML = `<header><h1>${escapeText(reportHeading(data))}</h1><p class="muted">livemig migration report</p></header><div id="sections"></div>`;
  const view = createView(document.getElementById('sections'));
  view.update(data);
  window.livemigPage = { ready: true, sections: view.sections() };
}

if (document.body.dataset.mode === 'report') showSavedReport();
