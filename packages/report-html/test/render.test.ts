import { describe, expect, it } from 'vitest';
import { jsonForScript, renderDashboardHtml, renderReportHtml } from '@livemig/report-html';

// What the page is made of; how it draws is checked in a browser (test/report-html.test.ts).
describe('renderReportHtml', () => {
  const hostile = { status: 'failed', target: '<b>x</b>', error: { code: 'LM_ERR_X', message: '</script><script>alert(1)</script>\u2028' }, rounds: [] };

  it('embeds the report as JSON that cannot end its script element, and reads back the same', () => {
    const text = jsonForScript(hostile);
    expect(text).not.toMatch(/<\/script/i);
    expect(text).not.toContain('\u2028');
    expect(JSON.parse(text)).toEqual(hostile);
    const page = renderReportHtml(hostile);
    expect(page.match(/<\/script>/g)).toHaveLength(page.match(/<script[ >]/g)!.length);
    expect(page).toContain('<title>livemig migration to &#60;b&#62;x&#60;/b&#62;: failed</title>');
  });

  it('is self-contained: no external script, style or image, and a policy that allows no connection', () => {
    const page = renderReportHtml(hostile);
    expect(page).not.toMatch(/<(script|img|link)[^>]+(src|href)=/i);
    expect(page).toContain("connect-src 'none'");
    expect(page).toContain('Chart.js v4');
  });

  it('lets the live dashboard talk to the agent that served it only', () => {
    const page = renderDashboardHtml('source', ['round']);
    expect(page).toContain("connect-src 'self'");
    expect(page).toContain('<body data-mode="live">');
    expect(page).toContain('"sampledFields":["round"]');
  });
});
