import { pageAssets } from './assets.js';

/** What a page is made of: a title, the data it draws (embedded as JSON) and what kind of page it is. */
export interface PageContent {
  title: string;
  /** The report (or reports) the page draws; null for the live dashboard, which fetches its own. */
  data: unknown;
  /** `report`: a saved report; `live`: the dashboard following /events; `figures`: standalone charts. */
  mode: 'report' | 'live' | 'figures';
}

/**
 * One self-contained HTML document: Chart.js, the page's scripts and styles inline, the data as a JSON
 * script element. It loads nothing from the network: the Content-Security-Policy allows no source but the
 * page itself (inline scripts and styles, and for the live dashboard requests to the agent that served it).
 */
export function renderPage(content: PageContent): string {
  const assets = pageAssets();
  const live = content.mode === 'live';
  const connect = live ? "'self'" : "'none'";
  const csp = `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src ${connect}`;
  const scripts = [assets.chartJs, assets.scripts, ...(live ? [assets.liveScript] : [])];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(content.title)}</title>
<style>${assets.css}</style>
</head>
<body data-mode="${content.mode}">
<main id="app"></main>
<script type="application/json" id="report-data">${jsonForScript(content.data)}</script>
${scripts.map((script) => `<script>${scriptText(script)}</script>`).join('\n')}
</body>
</html>
`;
}

/** JSON that cannot end its script element: `<` is written as its escape, which JSON.parse reads back. */
export function jsonForScript(data: unknown): string {
  return JSON.stringify(data ?? null).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function scriptText(source: string): string {
  // An inline script ends at the first `</script`; none of ours may contain one.
  if (/<\/script/i.test(source)) throw new Error('an inline script contains "</script": it would end its element early');
  return source;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
