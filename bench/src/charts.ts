// SVG line charts of bench results, drawn by a charting library: each panel is a
// Vega-Lite layer (lines + points, one colour per series), panels are concatenated into
// one chart, compiled to Vega and rendered headless (`View.toSVG()`, no canvas: text
// widths are estimated). Plain data in, an SVG string out.
//
//   const svg = await renderLineCharts({
//     title: 'puts',
//     series: ['etcd', 'rangekv 1 range'],
//     panels: [{ title: 'throughput', xTitle: 'in flight', yTitle: 'ops/s', xScale: 'log',
//                points: [{ series: 'etcd', x: 1, y: 374 }, { series: 'etcd', x: 16, y: 1187 }] }],
//   });
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartPoint {
  series: string;
  x: number;
  y: number;
}

export interface ChartPanel {
  title: string;
  xTitle: string;
  yTitle: string;
  /** 'log' for in-flight levels and range counts (1 .. 10,000); default linear. */
  xScale?: 'linear' | 'log';
  /** Tick values of the x axis (default: the x of the points). */
  xTicks?: number[];
  /** Points with a non-finite x or y (a level that did not run) are left out. */
  points: ChartPoint[];
}

export interface LineChartsSpec {
  title: string;
  /** Smaller lines under the title (the machine, the run's time and commit). */
  subtitle?: string | string[];
  /** Every series in legend order: one colour per name, the same in every panel. */
  series: string[];
  panels: ChartPanel[];
  /** Panels per row (default 2). */
  columns?: number;
  /** One panel's plot area, px (default 320 x 200). */
  width?: number;
  height?: number;
}

/** The Vega-Lite spec of `c` (exposed for tests and for anyone who wants the spec itself). */
export function lineChartsSpec(c: LineChartsSpec): TopLevelSpec {
  const width = c.width ?? 320;
  const height = c.height ?? 200;
  const color = { field: 'series', type: 'nominal' as const, title: null, scale: { domain: c.series }, sort: c.series };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: c.title, ...(c.subtitle ? { subtitle: c.subtitle } : {}), anchor: 'start', offset: 16 },
    columns: c.columns ?? 2,
    config: { font: 'sans-serif', legend: { orient: 'top', direction: 'horizontal' } },
    resolve: { scale: { color: 'shared' }, legend: { color: 'shared' } },
    concat: c.panels.map((p) => {
      const points = p.points.filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y) && (p.xScale !== 'log' || q.x > 0));
      const ticks = p.xTicks ?? [...new Set(points.map((q) => q.x))].sort((a, b) => a - b);
      return {
        title: p.title,
        width,
        height,
        data: { values: points.map((q) => ({ ...q })) },
        mark: { type: 'line' as const, point: true, tooltip: true },
        encoding: {
          x: {
            field: 'x', type: 'quantitative' as const, title: p.xTitle,
            scale: p.xScale === 'log' ? { type: 'log' as const, base: 2, nice: false } : { zero: false, nice: false },
            axis: { values: ticks, format: ',~r' },
          },
          y: { field: 'y', type: 'quantitative' as const, title: p.yTitle, scale: { zero: true }, axis: { format: ',~r' } },
          color,
        },
      };
    }),
  };
}

/** Renders the panels as one SVG document. */
export async function renderLineCharts(c: LineChartsSpec): Promise<string> {
  const vg = compile(lineChartsSpec(c)).spec;
  const view = new View(parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
