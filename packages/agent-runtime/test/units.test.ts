import { describe, expect, it } from 'vitest';
import { BadArgumentError } from '@livemig/protocol';
import { formatBytes, parseDuration, parseHostPort, parseRate, parseSize } from '../dist/units.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

/** The error `parse` throws, checked to be the usage error every flag gives (exit 2 at the CLI). */
function refusal(parse: () => unknown): BadArgumentError {
  let thrown: unknown;
  try {
    parse();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(BadArgumentError);
  expect(thrown).toMatchObject({ code: 'LM_ERR_BAD_ARGUMENT', name: 'BadArgumentError' });
  return thrown as BadArgumentError;
}

describe('parseSize', () => {
  it.each([
    ['4096', 4096],
    ['0', 0],
    ['4096b', 4096],
    ['4096B', 4096],
    ['1k', KiB],
    ['1kb', 1000],
    ['1KiB', KiB],
    ['512KB', 512_000],
    ['256MiB', 256 * MiB],
    ['256mib', 256 * MiB],
    ['2m', 2 * MiB],
    ['3MB', 3_000_000],
    ['1GiB', GiB],
    ['6gib', 6 * GiB],
    ['1g', GiB],
    ['2GB', 2_000_000_000],
    ['1TiB', TiB],
    ['1t', TiB],
    ['1TB', 1e12],
    ['1.5GiB', 1.5 * GiB],
    ['0.5KiB', 512],
    ['1.5', 1],
    ['1.0001KiB', 1024],
    [' 64 MiB ', 64 * MiB],
    ['\t8kib\n', 8 * KiB],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each([
    [4096, 4096],
    [0, 0],
    [4096.9, 4096],
  ])('takes the number %d as %d bytes (whole bytes, rounded down)', (value, bytes) => {
    expect(parseSize(value)).toBe(bytes);
  });

  it.each(['lots', '', ' ', '-1', '-1MiB', '1PB', '1 PiB', '1e3', '0x10', '1,5GiB', '1.GiB', '.5GiB', 'MiB', '1 Mi B', '1MiB/s', '1 2'])(
    'refuses %j, naming the flag and the text',
    (text) => {
      expect(refusal(() => parseSize(text, 'memory')).message).toBe(`--memory: cannot read "${text}" as a size (e.g. 256MiB, 1GiB)`);
    },
  );

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses the number %d', (value) => {
    expect(refusal(() => parseSize(value, 'delta-cache')).message).toBe(
      `--delta-cache: cannot read "${value}" as a size (e.g. 256MiB, 1GiB)`,
    );
  });

  it('names --size when no flag is given', () => {
    expect(refusal(() => parseSize('big')).message).toBe('--size: cannot read "big" as a size (e.g. 256MiB, 1GiB)');
  });
});

describe('parseRate', () => {
  it.each([
    ['3MB/s', 3_000_000],
    ['100MiB/s', 100 * MiB],
    ['1GB', 1e9],
    ['1gb/S', 1e9],
    ['5/s', 5],
    ['5', 5],
    ['3 MB/s', 3_000_000],
    ['3MB/s  ', 3_000_000],
    ['1.5KiB/s', 1536],
    ['0', 0],
  ])('reads %j as %d bytes per second', (text, rate) => {
    expect(parseRate(text)).toBe(rate);
  });

  it('takes a number as bytes per second', () => {
    expect(parseRate(1_000_000)).toBe(1_000_000);
    expect(parseRate(0)).toBe(0);
  });

  it.each(['fast', '', '/s', '3MB/h', '3MB/s/s', '3MB per s', '-3MB/s', '3 /  s'])('refuses %j, naming the flag and the text as given', (text) => {
    expect(refusal(() => parseRate(text, 'max-bandwidth')).message).toBe(
      `--max-bandwidth: cannot read "${text}" as a rate (e.g. 3MB/s, 100MiB/s)`,
    );
  });

  it.each([-1, Number.NaN])('refuses the number %d', (value) => {
    expect(refusal(() => parseRate(value, 'max-bandwidth')).message).toBe(
      `--max-bandwidth: cannot read "${value}" as a rate (e.g. 3MB/s, 100MiB/s)`,
    );
  });

  it('names --rate when no flag is given', () => {
    expect(refusal(() => parseRate('quick')).message).toBe('--rate: cannot read "quick" as a rate (e.g. 3MB/s, 100MiB/s)');
  });
});

describe('parseDuration', () => {
  it.each([
    ['300ms', 300],
    ['300MS', 300],
    ['300', 300],
    ['0', 0],
    ['0ms', 0],
    ['1s', 1000],
    ['1.5s', 1500],
    ['0.25s', 250],
    ['2m', 120_000],
    ['1min', 60_000],
    ['2MIN', 120_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    [' 10 s ', 10_000],
    ['2.5', 2.5],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('takes a number as milliseconds, fractions kept', () => {
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration(0.5)).toBe(0.5);
    expect(parseDuration(0)).toBe(0);
  });

  it.each(['soon', '', '-1s', '1d', '1 hour', '1sec', '1e3ms', '1m30s', 's', '1,5s', '.5s'])('refuses %j, naming the flag and the text', (text) => {
    expect(refusal(() => parseDuration(text, 'migrate-after')).message).toBe(
      `--migrate-after: cannot read "${text}" as a duration (e.g. 300ms, 1s, 2m)`,
    );
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses the number %d', (value) => {
    expect(refusal(() => parseDuration(value, 'max-time')).message).toBe(
      `--max-time: cannot read "${value}" as a duration (e.g. 300ms, 1s, 2m)`,
    );
  });

  it('names --duration when no flag is given', () => {
    expect(refusal(() => parseDuration('later')).message).toBe('--duration: cannot read "later" as a duration (e.g. 300ms, 1s, 2m)');
  });
});

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:7400', { host: '127.0.0.1', port: 7400 }],
    ['dest:1', { host: 'dest', port: 1 }],
    ['dest:65535', { host: 'dest', port: 65535 }],
    ['[::1]:7400', { host: '::1', port: 7400 }],
    ['[fe80::1%eth0]:80', { host: 'fe80::1%eth0', port: 80 }],
    ['::1:7400', { host: '::1', port: 7400 }],
    ['  example.com:443  ', { host: 'example.com', port: 443 }],
    ['host:007', { host: 'host', port: 7 }],
  ])('reads %j', (text, address) => {
    expect(parseHostPort(text)).toEqual(address);
  });

  it.each(['nowhere', '', ':7400', '[]:7400', 'host:', 'host:0', 'host:65536', 'host:123456', 'host:-1', 'host:port', 'host:74 00', '[::1]7400', 'host:1.5'])(
    'refuses %j, naming the flag and the text',
    (text) => {
      expect(refusal(() => parseHostPort(text, 'to')).message).toBe(`--to: expected HOST:PORT, got "${text}"`);
    },
  );

  it('names --migrate-to when no flag is given', () => {
    expect(refusal(() => parseHostPort('nowhere')).message).toBe('--migrate-to: expected HOST:PORT, got "nowhere"');
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [MiB - 1, '1024.0 KiB'],
    [256 * MiB, '256.0 MiB'],
    [1.25 * GiB, '1.3 GiB'],
    [6 * GiB, '6.0 GiB'],
    [TiB, '1.0 TiB'],
    [2048 * TiB, '2048.0 TiB'],
  ])('writes %d bytes as %j', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
