import { readFile } from 'node:fs/promises';
import { BadArgumentError } from '@livemig/protocol';
import { writeReportHtml } from '@livemig/report-html';

export interface ReportArguments {
  report: string;
  output: string;
}

/**
 * `source-agent report REPORT.json -o FILE.html`: renders a saved report (a source's or a destination's) as one
 * self-contained HTML page. @throws BadArgumentError when the file cannot be read or is not a JSON report
 */
export async function reportCommand(args: ReportArguments): Promise<number> {
  let text: string;
  try {
    text = await readFile(args.report, 'utf8');
  } catch (error) {
    throw new BadArgumentError(`cannot read report ${args.report}: ${(error as Error).message}`);
  }
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch (error) {
    throw new BadArgumentError(`report ${args.report} is not JSON: ${(error as Error).message}`);
  }
  if (typeof report !== 'object' || report === null || Array.isArray(report) || typeof (report as { status?: unknown }).status !== 'string') {
    throw new BadArgumentError(`report ${args.report} is not a migration report (no "status" field)`);
  }
  await writeReportHtml(args.output, report as Record<string, unknown>);
  process.stdout.write(`report ${args.output}\n`);
  return 0;
}
