/**
 * The README's chart: frames/s and p95 latency against concurrent streams, with the model-alone bound, as an
 * SVG rendered by Vega-Lite (no browser or canvas needed for SVG).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResults } from './results.js';

export async function renderChart(results: BenchResults): Promise<string> {
  const sweep = results.runs.filter((run) => run.sweep === 'streams');
  const throughput = sweep.map((run) => ({
    streams: run.streams,
    fps: Number(run.fps.toFixed(2)),
    series: run.mode === 'frames' ? 'StreamFrames' : 'ProcessVideo',
  }));
  const base = sweep[0];
  const bound = results.bounds.modelAlone.find(
    (m) => base && m.sessions === base.sessions && m.maxBatch === base.maxBatch,
  );
  const latency = sweep
    .filter((run) => run.latencyMs !== null)
    .map((run) => ({ streams: run.streams, p95: Number(run.latencyMs!.p95.toFixed(1)), series: 'StreamFrames p95' }));
  const x = {
    field: 'streams',
    type: 'quantitative' as const,
    title: 'concurrent streams',
    scale: { type: 'log' as const, base: 2 },
    axis: { values: [...new Set(sweep.map((r) => r.streams))] },
  };
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `fusionseg: ${results.model.name} on ${results.machine.cpu} (${results.machine.cores} cores)`,
      subtitle: base
        ? `${base.devices}, maxBatch ${base.maxBatch}, ${results.workload.frameWidth}x${results.workload.frameHeight} frames`
        : '',
    },
    hconcat: [
      {
        width: 320,
        height: 220,
        title: 'throughput',
        layer: [
          {
            data: { values: throughput },
            mark: { type: 'line', point: true },
            encoding: {
              x,
              y: { field: 'fps', type: 'quantitative', title: 'frames/s', scale: { zero: true } },
              color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } },
            },
          },
          ...(bound
            ? [
                {
                  data: {
                    values: [{ fps: Number(bound.fps.toFixed(2)), label: `model alone ${bound.fps.toFixed(1)}` }],
                  },
                  mark: { type: 'rule' as const, strokeDash: [4, 4], color: 'gray' },
                  encoding: { y: { field: 'fps', type: 'quantitative' as const } },
                },
                {
                  data: {
                    values: [
                      { fps: Number(bound.fps.toFixed(2)), label: `model alone ${bound.fps.toFixed(1)} frames/s` },
                    ],
                  },
                  mark: { type: 'text' as const, align: 'left' as const, dx: 4, dy: -6, x: 0, color: 'gray' },
                  encoding: { y: { field: 'fps', type: 'quantitative' as const }, text: { field: 'label' } },
                },
              ]
            : []),
        ],
      },
      {
        width: 320,
        height: 220,
        title: 'latency',
        data: { values: latency },
        mark: { type: 'line', point: { color: '#e45756' }, color: '#e45756' },
        encoding: { x, y: { field: 'p95', type: 'quantitative', title: 'p95 latency, ms', scale: { zero: true } } },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
