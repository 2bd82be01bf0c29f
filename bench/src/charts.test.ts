// The chart module renders real SVG from fixed data. Not in the default suite (that runs
// packages/*/dist and tools/cli/dist only): `pnpm test:bench`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineChartsSpec, renderLineCharts, type LineChartsSpec } from './charts.js';

const fixed: LineChartsSpec = {
  title: 'kv-vs-etcd puts',
  subtitle: '3 server processes, 2 client processes',
  series: ['etcd', 'rangekv 1 range', 'rangekv 1000 ranges'],
  panels: [
    {
      title: 'put throughput', xTitle: 'requests in flight', yTitle: 'ops/s', xScale: 'log',
      points: [
        { series: 'etcd', x: 1, y: 374 }, { series: 'etcd', x: 16, y: 1187 }, { series: 'etcd', x: 256, y: 2367 },
        { series: 'rangekv 1 range', x: 1, y: 121 }, { series: 'rangekv 1 range', x: 16, y: 1088 }, { series: 'rangekv 1 range', x: 256, y: 2576 },
        { series: 'rangekv 1000 ranges', x: 1, y: 186 }, { series: 'rangekv 1000 ranges', x: 16, y: 674 },
        // A level that produced no figure: left out, not drawn at 0.
        { series: 'rangekv 1000 ranges', x: 256, y: NaN },
      ],
    },
    {
      title: 'put p99 latency', xTitle: 'requests in flight', yTitle: 'p99 ms', xScale: 'log',
      points: [{ series: 'etcd', x: 1, y: 8.4 }, { series: 'etcd', x: 256, y: 196 }, { series: 'rangekv 1 range', x: 256, y: 178 }],
    },
  ],
};

test('the SVG holds the title and subtitle, every panel and axis title, and every series name in the legend', async () => {
  const svg = await renderLineCharts(fixed);
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  for (const text of ['kv-vs-etcd puts', '3 server processes, 2 client processes', 'put throughput', 'put p99 latency', 'requests in flight', 'ops/s', 'p99 ms']) {
    assert.ok(svg.includes(`>${text}<`), `missing text ${text}`);
  }
  // The legend lists 'rangekv 1000 ranges' although the p99 panel has no point of it.
  for (const name of fixed.series) assert.ok(svg.includes(`>${name}<`), `missing series ${name}`);
});

test('one line per series and panel; a level without a figure is no point', async () => {
  const svg = await renderLineCharts(fixed);
  const marks = (kind: string, series: string): number =>
    svg.split(`series: ${series}" role="graphics-symbol" aria-roledescription="${kind}"`).length - 1;
  // Lines: etcd and rangekv 1 range in both panels, rangekv 1000 ranges in the first only.
  assert.deepEqual(fixed.series.map((s) => marks('line mark', s)), [2, 2, 1]);
  // Points: the NaN level of rangekv 1000 ranges is left out (2 points, not 3).
  assert.deepEqual(fixed.series.map((s) => marks('point', s)), [3 + 2, 3 + 1, 2]);
});

test('colours follow the series list, so a series keeps its colour in every panel', () => {
  const spec = lineChartsSpec(fixed) as { concat: { encoding: { color: { scale: { domain: string[] } } } }[] };
  for (const panel of spec.concat) assert.deepEqual(panel.encoding.color.scale.domain, fixed.series);
});
