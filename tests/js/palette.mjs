// Palettes for the document tests: a small one for the mechanics, and ClearPay's own parts with their rules.
import { readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);

export function readFixture(path) { return JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')); }

// The shape kata/palette.py Palette.editor_parts gives the page, built from the kata's fixture.
export function clearpayPalette() {
  return readFixture('fixtures/clearpay/kata.json').parts.map((p) => ({
    key: p.key, name: p.name, role: p.role, description: p.description,
    defaults: Object.fromEntries(p.parameters.map((q) => [q.name, q.default])),
    max_per_design: p.max_per_design ?? null, fixed_servers: p.fixed_servers ?? null,
    fanout: p.fanout ?? 'split', feeds: p.feeds ?? null, feeds_reason: p.feeds_reason ?? '',
  }));
}

export const SMALL = [
  { key: 'src', name: 'Clients', role: 'source', defaults: {}, max_per_design: 1, fanout: 'split', feeds: null },
  { key: 'lb', name: 'Load balancer', role: 'load_balancer', defaults: { instances: 1 }, fanout: 'single', feeds: null },
  { key: 'api', name: 'API', role: 'service', defaults: { instances: 1, concurrency: 8 }, fanout: 'split', feeds: null },
  { key: 'db', name: 'Database', role: 'database', defaults: { instances: 1, concurrency: 4 }, feeds: [] },
  { key: 'q', name: 'Queue', role: 'queue', defaults: { capacity: 100, max_attempts: 1 }, feeds: null },
];
