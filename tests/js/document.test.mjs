// The editor's design document without a browser: edits, the connection rules it mirrors from the server,
// undo and redo, and the document format the server validates and grades.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DesignDocument, LIMIT, NODE_H, NODE_W, normalise } from '../../static/kata/js/editor/document.js';
import { SMALL, clearpayPalette, readFixture } from './palette.mjs';

const BOX = { x: 0, y: 0, width: 900, height: 460 };

// A clock the test moves: arrow-key moves within 1.2 s of each other share one undo step.
function clock() {
  const c = { t: 1000, now: () => c.t };
  return c;
}

function small(design = { nodes: [], edges: [] }, now = clock().now) {
  return new DesignDocument(SMALL, design, { now });
}

function built() {
  const doc = small();
  for (const key of ['src', 'lb', 'api', 'db']) doc.addPart(key, doc.freeSpot(BOX));
  return doc;
}

describe('adding, moving and deleting parts', () => {
  test('a new part takes its key as id, its defaults as params, and a free spot', () => {
    const doc = small();
    assert.deepEqual(doc.addPart('api', doc.freeSpot(BOX)), { id: 'api' });
    assert.deepEqual(doc.addPart('api', doc.freeSpot(BOX)), { id: 'api-2' });
    const [first, second] = doc.nodes;
    assert.deepEqual(first.params, { instances: 1, concurrency: 8 });
    assert.ok(Math.abs(first.x - second.x) >= NODE_W + 30 || Math.abs(first.y - second.y) >= NODE_H + 30);
    first.params.instances = 5;
    assert.equal(SMALL[2].defaults.instances, 1, 'the palette keeps its defaults');
  });

  test('the palette limit per design is refused in words, an unknown part is nothing', () => {
    const doc = small();
    assert.deepEqual(doc.addPart('src', { x: 0, y: 0 }), { id: 'src' });
    assert.deepEqual(doc.addPart('src', { x: 300, y: 0 }), { refusal: 'Only 1 Clients per design.' });
    assert.equal(doc.addPart('nope', { x: 0, y: 0 }), null);
    assert.equal(doc.nodes.length, 1);
  });

  test('parts stay on the canvas: positions are rounded and clamped', () => {
    const doc = small();
    doc.addPart('api', { x: -50.4, y: LIMIT * 2 });
    assert.deepEqual([doc.nodes[0].x, doc.nodes[0].y], [0, LIMIT - NODE_H]);
    assert.equal(doc.moveNode('api', -10, 20), false, 'a move that clamps to the same place changes nothing');
    assert.equal(doc.canUndo(), true);
    assert.equal(doc.undoStack.length, 1, 'and leaves no undo step of its own');
    assert.equal(doc.moveNode('api', 30, -60), true);
    assert.deepEqual([doc.nodes[0].x, doc.nodes[0].y], [30, LIMIT - NODE_H - 60]);
  });

  test('deleting a part takes its connections with it', () => {
    const doc = built();
    doc.connect('src', 'lb');
    doc.connect('lb', 'api');
    doc.connect('api', 'db');
    assert.equal(doc.removeNode('lb'), true);
    assert.deepEqual(doc.nodes.map((n) => n.id), ['src', 'api', 'db']);
    assert.deepEqual(doc.edges, [{ source: 'api', target: 'db' }]);
    assert.equal(doc.removeNode('lb'), false);
    assert.equal(doc.removeEdge('api', 'db'), true);
    assert.deepEqual(doc.edges, []);
    assert.equal(doc.removeEdge('api', 'db'), false);
  });
});

describe('connections', () => {
  test('the generic refusals: itself, into a source, twice, a part that is gone', () => {
    const doc = built();
    assert.deepEqual(doc.connect('src', 'lb'), { ok: true });
    assert.equal(doc.connectRefusal('api', 'api'), 'A part cannot connect to itself.');
    assert.equal(doc.connectRefusal('lb', 'src'), 'Clients is a traffic source; nothing connects into it.');
    assert.equal(doc.connectRefusal('src', 'lb'), 'Clients already connects to Load balancer.');
    assert.equal(doc.connectRefusal('src', 'ghost'), 'That part is gone.');
    assert.deepEqual(doc.connect('lb', 'src'), { refusal: 'Clients is a traffic source; nothing connects into it.' });
    assert.equal(doc.edges.length, 1);
  });

  test('fanout: a single-fanout part and a source feed one part, a split part feeds several', () => {
    const doc = built();
    doc.addPart('api', doc.freeSpot(BOX));
    assert.ok(doc.connect('lb', 'api').ok);
    assert.equal(doc.connectRefusal('lb', 'api-2'), 'Load balancer feeds at most one part: remove its connection first.');
    assert.ok(doc.connect('src', 'lb').ok);
    assert.equal(doc.connectRefusal('src', 'api'), 'Clients feeds at most one part: remove its connection first.');
    assert.ok(doc.connect('api', 'db').ok);
    assert.ok(doc.connect('api', 'api-2').ok, 'a split part fans out');
    assert.equal(doc.outgoing('api'), 2);
  });

  test('a part that feeds nothing says it ends the path', () => {
    const doc = built();
    assert.equal(doc.connectRefusal('db', 'api'),
      'Database cannot hand requests to API. (Database ends the path: it connects to nothing.)');
  });

  test("ClearPay's feeds rules are said in the kata's words, naming the parts it may feed", () => {
    const doc = new DesignDocument(clearpayPalette(), readFixture('fixtures/clearpay/designs/reference.json'));
    const statusApi = doc.addPart('status_api', { x: 900, y: 600 }).id;
    assert.equal(doc.connectRefusal(statusApi, 'gateway'), "The status API answers merchants' reads from a cache or the " +
      'ledger; it settles no payments. (Status API may connect to: Cache, Ledger database.)');
    assert.match(doc.connectRefusal('checkout', 'queue'), /\(Checkout may connect to: Load balancer, Payment-intent API\.\)$/);
    assert.equal(doc.connectRefusal('checkout', 'workers'), doc.connectRefusal('checkout', 'queue'));
  });
});

describe('parameters', () => {
  test('the inspector answer merges into the params and whole floats become whole numbers', () => {
    const doc = built();
    assert.equal(doc.applyParams('api', { instances: 3.0, concurrency: '16', ratio: 0.5 }), true);
    assert.deepEqual(doc.findNode('api').params, { instances: 3, concurrency: 16, ratio: 0.5 });
    assert.equal(Number.isInteger(doc.findNode('api').params.concurrency), true);
    assert.equal(doc.applyParams('api', { instances: 3 }), false, 'the same values change nothing');
    assert.equal(doc.applyParams('ghost', { instances: 3 }), false);
    assert.equal(doc.applyParams('api', null), false);
  });

  test('the summary a node shows reads its params over its defaults', () => {
    const doc = built();
    doc.addPart('q', { x: 0, y: 400 });
    assert.equal(doc.summary(doc.findNode('api')), '1 × 8');
    doc.applyParams('api', { instances: 3 });
    assert.equal(doc.summary(doc.findNode('api')), '3 × 8');
    assert.equal(doc.summary(doc.findNode('q')), 'cap 100 · 1 try');
    doc.applyParams('q', { max_attempts: 5 });
    assert.equal(doc.summary(doc.findNode('q')), 'cap 100 · 5 tries');
    assert.equal(doc.summary(doc.findNode('src')), 'traffic source');
  });
});

describe('undo and redo', () => {
  test('every kind of edit is undone and redone, in order', () => {
    const doc = small();
    const states = [doc.snapshot()];
    const edits = [
      () => doc.addPart('src', { x: 0, y: 0 }), () => doc.addPart('api', { x: 300, y: 0 }),
      () => doc.connect('src', 'api'), () => doc.applyParams('api', { instances: 4 }),
      () => doc.moveNode('api', 10, 0), () => doc.removeEdge('src', 'api'), () => doc.removeNode('api'),
      () => doc.replace({ nodes: [{ id: 'x', part: 'db', x: 5, y: 5 }], edges: [] }),
    ];
    for (const edit of edits) {
      edit();
      assert.notEqual(doc.snapshot(), states[states.length - 1], 'each edit changes the document');
      states.push(doc.snapshot());
    }
    for (let i = states.length - 2; i >= 0; i--) {
      assert.equal(doc.undo(), true);
      assert.equal(doc.snapshot(), states[i]);
    }
    assert.equal(doc.undo(), false);
    for (let i = 1; i < states.length; i++) {
      assert.equal(doc.redo(), true);
      assert.equal(doc.snapshot(), states[i]);
    }
    assert.equal(doc.redo(), false);
  });

  test('an edit that changes nothing keeps what Redo would bring back', () => {
    const doc = built();
    doc.applyParams('api', { instances: 3 });
    doc.undo();
    assert.equal(doc.applyParams('api', { instances: 1 }), false, 'Apply on the values it already has');
    assert.equal(doc.canRedo(), true);
    assert.equal(doc.redo(), true);
    assert.equal(doc.findNode('api').params.instances, 3);
  });

  test('a new edit after an undo drops the redo history', () => {
    const doc = built();
    doc.connect('src', 'lb');
    doc.undo();
    assert.equal(doc.canRedo(), true);
    doc.moveNode('db', 10, 10);
    assert.equal(doc.canRedo(), false);
  });

  test('arrow-key moves of one part within a moment are one undo step; a pause or another part starts one', () => {
    const c = clock();
    const doc = small({ nodes: [{ id: 'a', part: 'api', x: 100, y: 100 }, { id: 'b', part: 'api', x: 400, y: 100 }],
      edges: [] }, c.now);
    doc.moveNode('a', 10, 0); c.t += 300;
    doc.moveNode('a', 10, 0); c.t += 300;
    doc.moveNode('a', 0, 50);
    assert.deepEqual([doc.findNode('a').x, doc.findNode('a').y], [120, 150]);
    assert.equal(doc.undoStack.length, 1);
    c.t += 1300;
    doc.moveNode('a', 10, 0);
    doc.moveNode('b', 10, 0);
    assert.equal(doc.undoStack.length, 3);
    doc.undo(); doc.undo(); doc.undo();
    assert.deepEqual([doc.findNode('a').x, doc.findNode('a').y], [100, 100]);
    assert.equal(doc.findNode('b').x, 400);
  });

  test('a pointer drag is one step, and a drag back to where it started leaves none', () => {
    const doc = small({ nodes: [{ id: 'a', part: 'api', x: 100, y: 100 }], edges: [] });
    doc.beginGesture();
    for (let dx = 1; dx <= 40; dx++) doc.placeNode('a', 100 + dx, 100 + dx / 2);
    assert.equal(doc.endGesture(), true);
    assert.deepEqual([doc.findNode('a').x, doc.findNode('a').y], [140, 120]);
    doc.beginGesture();
    doc.placeNode('a', 200, 200);
    doc.placeNode('a', 140, 120);
    assert.equal(doc.endGesture(), false);
    assert.equal(doc.undoStack.length, 1);
    doc.undo();
    assert.deepEqual([doc.findNode('a').x, doc.findNode('a').y], [100, 100]);
  });

  test('the history keeps the last hundred steps', () => {
    const doc = small({ nodes: [{ id: 'a', part: 'api', x: 0, y: 0 }], edges: [] });
    for (let i = 1; i <= 120; i++) doc.applyParams('a', { instances: i });
    let undone = 0;
    while (doc.undo()) undone += 1;
    assert.equal(undone, 100);
    assert.equal(doc.findNode('a').params.instances, 20);
  });

  test('replacing the design with the same one is no step', () => {
    const doc = built();
    const steps = doc.undoStack.length;
    assert.equal(doc.replace(doc.toJSON()), false);
    assert.equal(doc.undoStack.length, steps);
  });
});

describe("the server's document format", () => {
  test("ClearPay's reference design goes through the editor unchanged", () => {
    const reference = readFixture('fixtures/clearpay/designs/reference.json');
    const doc = new DesignDocument(clearpayPalette(), reference);
    assert.deepEqual(doc.toJSON(), reference);
    assert.deepEqual(JSON.parse(JSON.stringify(doc.toJSON())), reference);
  });

  test('an edited document has exactly the fields the server reads', () => {
    const doc = built();
    doc.connect('src', 'lb');
    doc.applyParams('lb', { instances: 2 });
    const out = JSON.parse(JSON.stringify(doc.toJSON()));
    assert.deepEqual(Object.keys(out), ['nodes', 'edges']);
    for (const node of out.nodes) assert.deepEqual(Object.keys(node).sort(), ['id', 'params', 'part', 'x', 'y']);
    assert.deepEqual(out.edges, [{ source: 'src', target: 'lb' }]);
    assert.deepEqual(new DesignDocument(SMALL, out).toJSON(), out, 'and reads back as itself');
  });

  test('what the server or a caller hands in is tidied: duplicates, bad ids and positions, stray fields', () => {
    const tidy = normalise({
      nodes: [{ id: 'a', part: 'api', x: '12.6', y: 'high', extra: 1, params: [1] }, { id: 'a', part: 'db' },
        { id: 7, part: 'db' }, null, { id: 'constructor', part: 'db', x: 1e9, y: -5, params: { instances: 2 } }],
      edges: [{ source: 'a', target: 'constructor', label: 'x' }, { source: 'a' }, 'junk'],
    });
    assert.deepEqual(tidy, {
      nodes: [{ id: 'a', part: 'api', params: {}, x: 13, y: 40 },
        { id: 'constructor', part: 'db', params: { instances: 2 }, x: LIMIT - NODE_W, y: 0 }],
      edges: [{ source: 'a', target: 'constructor' }],
    });
    assert.deepEqual(normalise(null), { nodes: [], edges: [] });
  });

  test('ids that are object keys are parts like any other', () => {
    const doc = small({ nodes: [{ id: '__proto__', part: 'api', x: 0, y: 0 }, { id: 'toString', part: 'db', x: 300, y: 0 }],
      edges: [] });
    assert.equal(doc.nodes.length, 2);
    assert.ok(doc.connect('__proto__', 'toString').ok);
    assert.deepEqual(doc.toJSON().edges, [{ source: '__proto__', target: 'toString' }]);
  });
});

describe('several parts at once: duplicate, copy and paste, delete', () => {
  test('duplicating parts copies their parameters and the connections among them, with new ids, as one step', () => {
    const doc = built();
    doc.connect('src', 'lb');
    doc.connect('lb', 'api');
    doc.applyParams('api', { instances: 3 });
    const before = doc.snapshot();
    const { ids, refused } = doc.duplicate(['lb', 'api']);
    assert.deepEqual(ids, ['lb-2', 'api-2']);
    assert.deepEqual(refused, []);
    assert.equal(doc.findNode('api-2').params.instances, 3);
    assert.equal(doc.findNode('api-2').x, doc.findNode('api').x + 40);
    assert.ok(doc.hasEdge('lb-2', 'api-2'), 'the connection between the copies');
    assert.ok(!doc.hasEdge('src', 'lb-2'), 'not the one from outside the copied parts');
    doc.findNode('api-2').params.instances = 9;
    assert.equal(doc.findNode('api').params.instances, 3, 'copies share nothing with their originals');
    assert.equal(doc.undo(), true);
    assert.equal(doc.snapshot(), before, 'one undo step');
  });

  test('a clipboard is a copy: later edits do not change what is pasted, and the palette limit holds', () => {
    const doc = built();
    const clip = doc.copy(['src', 'api']);
    doc.applyParams('api', { instances: 7 });
    const { ids, refused } = doc.paste(clip, { dx: 0, dy: 100 });
    assert.deepEqual(ids, ['api-2']);
    assert.equal(doc.findNode('api-2').params.instances, 1);
    assert.equal(refused.length, 1, 'a second traffic source is refused in words');
    assert.match(refused[0], /^Only 1 /);
  });

  test('deleting several parts removes their connections in one undo step', () => {
    const doc = built();
    doc.connect('src', 'lb');
    doc.connect('lb', 'api');
    doc.connect('api', 'db');
    const before = doc.snapshot();
    assert.equal(doc.removeNodes(['lb', 'api']), true);
    assert.deepEqual(doc.nodes.map((n) => n.id), ['src', 'db']);
    assert.deepEqual(doc.edges, []);
    doc.undo();
    assert.equal(doc.snapshot(), before);
    assert.equal(doc.removeNodes(['nope']), false);
  });
});
