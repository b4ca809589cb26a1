import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GuestErrorCode } from '@livemig/guest';
import { BadArgumentError, MigrationError } from '@livemig/protocol';
import { USAGE_CODES, errorSummary } from '@livemig/agent-runtime';
import { SOURCE_AGENT_ERROR_CLASSES, errorRegistry, type ErrorRegistryName } from '@livemig/source-agent';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** This package's own codes: class, code and default message. */
const table: Array<[string, string, string]> = [
  ['HostBusyError', 'LM_ERR_BUSY', 'the guest cannot start a migration now'],
  ['PostcopyFailedError', 'LM_ERR_POSTCOPY_FAILED', 'post-copy failed after the switch; the guest stays parked here and is never resumed'],
];

describe('source-agent error classes', () => {
  it.each(table)('%s has its name, code %s and default message "%s", and extends MigrationError', (name, code, message) => {
    const ErrorClass = SOURCE_AGENT_ERROR_CLASSES.get(code)!;
    expect(ErrorClass.name).toBe(name);
    const err = new ErrorClass();
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ name, code, message });
    expect(errorSummary(err)).toEqual({ code, message });
    const cause = new Error('root');
    const custom = new ErrorClass('custom', { cause });
    expect(custom.message).toBe('custom');
    expect(custom.cause).toBe(cause);
  });

  it('SOURCE_AGENT_ERROR_CLASSES files exactly these classes', () => {
    expect([...SOURCE_AGENT_ERROR_CLASSES.keys()]).toEqual(table.map(([, code]) => code));
  });
});

describe('errorRegistry: every code of every package', () => {
  const registry = errorRegistry();

  it('holds each code once, with a class name and a one-line default message', () => {
    const codes = registry.map(({ code }) => code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const entry of registry) {
      expect(entry.code).toMatch(/^LM_ERR_[A-Z0-9_]+$/);
      expect(entry.className).toMatch(/^[A-Z][A-Za-z]+Error$/);
      expect(entry.message.length).toBeGreaterThan(0);
      expect(entry.message).not.toContain('\n');
    }
  });

  it('lists the registries in order: wire, local, guest, control', () => {
    const order = registry.map(({ registry: name }) => name).filter((name, i, all) => all[i - 1] !== name);
    expect(order).toEqual(['wire', 'local', 'guest', 'control']);
  });

  it("has one owner for LM_ERR_BAD_ARGUMENT: protocol's BadArgumentError, whose string the guest carries", () => {
    const owners = registry.filter(({ code }) => code === 'LM_ERR_BAD_ARGUMENT');
    expect(owners).toMatchObject([{ registry: 'wire', package: '@livemig/protocol', className: 'BadArgumentError' }]);
    expect(GuestErrorCode.BAD_ARGUMENT).toBe(new BadArgumentError().code);
  });

  it('declares every code that makes the command line exit 2', () => {
    const codes = new Set(registry.map(({ code }) => code));
    for (const code of USAGE_CODES) expect(codes).toContain(code);
  });

  it('declares every LM_ERR_ code that a source file, README.md or a doc names', () => {
    const declared = new Set(registry.map(({ code }) => code));
    const named = new Map<string, string>();
    for (const file of textFiles()) {
      for (const [code] of readFileSync(file, 'utf8').matchAll(/\bLM_ERR_[A-Z0-9_]*[A-Z0-9]\b/g)) {
        if (!declared.has(code)) named.set(code, file.slice(ROOT.length));
      }
    }
    expect(Object.fromEntries(named)).toEqual({});
  });

  it('matches docs/ERRORS.md: the same codes under each registry, each with its class', () => {
    const documented = documentedCodes(readFileSync(join(ROOT, 'docs/ERRORS.md'), 'utf8'));
    const expected = registry.map(({ registry: name, code, className }) => ({ registry: name, code, className }));
    expect(documented).toEqual(expected);
  });
});

/** The rows of docs/ERRORS.md's tables, in order, under the registry their section heading names. */
function documentedCodes(markdown: string): Array<{ registry: ErrorRegistryName; code: string; className: string }> {
  const sections: Record<string, ErrorRegistryName> = { Wire: 'wire', Local: 'local', Guest: 'guest', Control: 'control' };
  const rows: Array<{ registry: ErrorRegistryName; code: string; className: string }> = [];
  let registry: ErrorRegistryName | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^## (\w+)/.exec(line);
    if (heading) registry = sections[heading[1]!];
    const row = /^\| `(LM_ERR_[A-Z0-9_]+)` \| (\w+) \|/.exec(line);
    if (row) {
      expect(registry, `${row[1]} is listed outside a registry's section`).toBeDefined();
      rows.push({ registry: registry!, code: row[1]!, className: row[2]! });
    }
  }
  return rows;
}

/** The packages' sources, bench's, the scripts, README.md and docs/*.md: everything that names codes for readers. */
function textFiles(): string[] {
  const files = [join(ROOT, 'README.md')];
  const walk = (dir: string, suffix: RegExp): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, suffix);
      else if (suffix.test(entry.name)) files.push(path);
    }
  };
  for (const pkg of readdirSync(join(ROOT, 'packages'))) walk(join(ROOT, 'packages', pkg, 'src'), /\.ts$/);
  walk(join(ROOT, 'bench', 'src'), /\.ts$/);
  walk(join(ROOT, 'scripts'), /\.m?js$/);
  walk(join(ROOT, 'docs'), /\.md$/);
  return files;
}
