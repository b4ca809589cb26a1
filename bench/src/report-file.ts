import { readFile, rm } from 'node:fs/promises';

/** An agent's JSON report as a plain object; null when the file is missing or not a JSON object. */
export async function readReport(path: string): Promise<Record<string, unknown> | null> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A finite number field, else null (a field the agent lacks, or an Infinity that JSON turned into null). */
export function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** Reads both agents' reports (null where missing or unreadable), then deletes the files. */
export async function takeReports(
  sourcePath: string,
  destPath: string,
): Promise<{ src: Record<string, unknown> | null; dst: Record<string, unknown> | null }> {
  const src = await readReport(sourcePath);
  const dst = await readReport(destPath);
  await Promise.all([rm(sourcePath, { force: true }), rm(destPath, { force: true })]);
  return { src, dst };
}
