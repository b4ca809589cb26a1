import { controlError } from './errors.js';

export const HTTP_METHODS = ['GET', 'POST', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface RoutePattern {
  method: HttpMethod;
  /** Literal segments and `:name` parameters, e.g. `/migrations/:id`. A parameter matches one non-empty segment. */
  path: string;
}

export type RouteMatch<R> =
  | { kind: 'found'; route: R; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: HttpMethod[] }
  | { kind: 'not-found' };

type Segment = { literal: string } | { param: string };

interface Compiled<R> {
  route: R;
  segments: Segment[];
}

/**
 * Matches request paths against route patterns. Routes are tried in the order given: the first whose pattern
 * and method match wins, so list `/migrations/current` before `/migrations/:id` if both exist.
 */
export class Router<R extends RoutePattern> {
  private readonly compiled: Compiled<R>[];

  constructor(routes: readonly R[]) {
    const seen = new Set<string>();
    this.compiled = routes.map((route) => {
      if (!(HTTP_METHODS as readonly string[]).includes(route.method)) {
        throw new TypeError(`route ${route.path}: unsupported method ${String(route.method)}`);
      }
      const segments = compilePattern(route.path);
      const key = `${route.method} ${segments.map((s) => ('literal' in s ? s.literal : ':')).join('/')}`;
      if (seen.has(key)) throw new TypeError(`duplicate route ${route.method} ${route.path}`);
      seen.add(key);
      return { route, segments };
    });
  }

  /** `pathname` is the raw (still percent-encoded) path of the request URL; parameters come back decoded. */
  match(method: string, pathname: string): RouteMatch<R> {
    const parts = pathname.split('/').slice(1);
    const allow = new Set<HttpMethod>();
    for (const { route, segments } of this.compiled) {
      const params = matchSegments(segments, parts);
      if (params === undefined) continue;
      if (route.method === method) return { kind: 'found', route, params };
      allow.add(route.method);
    }
    if (allow.size === 0) return { kind: 'not-found' };
    return { kind: 'method-not-allowed', allow: HTTP_METHODS.filter((m) => allow.has(m)) };
  }
}

function compilePattern(path: string): Segment[] {
  if (!path.startsWith('/')) throw new TypeError(`route path must start with "/": ${path}`);
  const names = new Set<string>();
  return path
    .split('/')
    .slice(1)
    .map((part) => {
      if (!part.startsWith(':')) return { literal: part };
      const name = part.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`route ${path}: bad parameter name "${name}"`);
      if (names.has(name)) throw new TypeError(`route ${path}: parameter "${name}" appears twice`);
      names.add(name);
      return { param: name };
    });
}

function matchSegments(segments: readonly Segment[], parts: readonly string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const part = parts[i]!;
    if ('literal' in segment) {
      if (segment.literal !== part) return undefined;
    } else {
      if (part === '') return undefined;
      params[segment.param] = decodeParam(part);
    }
  }
  return params;
}

function decodeParam(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw controlError('LM_ERR_BAD_REQUEST', `malformed percent-encoding in path segment "${part}"`);
  }
}
