// Unit tests of yaml-lite.mjs, the YAML reader of the deploy/ structure tests. The expected
// values are what a full YAML 1.2 reader gives for the same text (checked once with PyYAML).
//
//   node --test deploy/test/yaml-lite.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseYaml, parseYamlDocuments } from './yaml-lite.mjs';

test('mappings, sequences at and below their key, scalars, comments', () => {
  const y = [
    '# a comment',
    'a: 1',
    'b: 0.5',
    'c: true',
    'd: ~',
    'e:',
    'f: "x # not a comment"   # a comment',
    "g: 'it''s'",
    'h: http://prometheus:9090',
    'i: --peers=1=pd-1:2380/pd-1:2379',
    'list:',
    '- one',
    '- two',
    'nested:',
    '  list:',
    '    - name: A',
    '      value: "1"',
    '    - name: B',
    '      valueFrom:',
    '        fieldRef: {fieldPath: metadata.name}',
    '    -',
    '      deep: yes-as-string',
  ].join('\n');
  assert.deepEqual(parseYaml(y), {
    a: 1, b: 0.5, c: true, d: null, e: null, f: 'x # not a comment', g: "it's", h: 'http://prometheus:9090',
    i: '--peers=1=pd-1:2380/pd-1:2379', list: ['one', 'two'],
    nested: { list: [{ name: 'A', value: '1' }, { name: 'B', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { deep: 'yes-as-string' }] },
  });
});

test('flow collections on one line', () => {
  assert.deepEqual(parseYaml('a: [x, "y, z", {k: v}, [1, 2], no-new-privileges:true]\nb: {soft: 65536, hard: 65536}\nc: []\nd: {}'), {
    a: ['x', 'y, z', { k: 'v' }, [1, 2], 'no-new-privileges:true'], b: { soft: 65536, hard: 65536 }, c: [], d: {},
  });
});

test('block scalars: literal, strip, keep, folded', () => {
  const y = [
    'script: |',
    '  set -eu',
    '  id=$(( ${POD_NAME##*-} + 1 ))  # stays',
    '',
    '  exec node x "$id"',
    'strip: |-',
    '  a',
    'keep: |+',
    '  x',
    '',
    'folded: >-',
    '  a b',
    '  c',
    'after: 1',
  ].join('\n');
  assert.deepEqual(parseYaml(y), {
    script: 'set -eu\nid=$(( ${POD_NAME##*-} + 1 ))  # stays\n\nexec node x "$id"\n', strip: 'a', keep: 'x\n\n', folded: 'a b c', after: 1,
  });
});

test('anchors, aliases and merge keys (own keys win)', () => {
  const y = ['base: &b', '  image: i', '  restart: on-failure', 'svc:', '  <<: *b', '  restart: always', 'again: *b'].join('\n');
  assert.deepEqual(parseYaml(y), {
    base: { image: 'i', restart: 'on-failure' }, svc: { image: 'i', restart: 'always' }, again: { image: 'i', restart: 'on-failure' },
  });
});

test('documents separated by ---, empty ones skipped', () => {
  assert.deepEqual(parseYamlDocuments('---\nkind: A\n---\n# only a comment\n---\nkind: B\n---\n'), [{ kind: 'A' }, { kind: 'B' }]);
});

test('what the subset does not read is an error with its line, not a wrong value', () => {
  assert.throws(() => parseYaml('a: [1,\n  2]'), /line 1: unclosed flow collection/);
  assert.throws(() => parseYaml('a: 1\na: 2'), /line 2: duplicate key a/);
  assert.throws(() => parseYaml('a:\n\t- 1'), /line 2: tab in indentation/);
  assert.throws(() => parseYaml('a: !tag x'), /tags and complex keys are not supported/);
  assert.throws(() => parseYaml('a: *nope'), /unknown alias \*nope/);
  assert.throws(() => parseYaml('a: 1\n  b: 2'), /line 2/);
  assert.throws(() => parseYaml('a: "open'), /bad double-quoted scalar/);
});
