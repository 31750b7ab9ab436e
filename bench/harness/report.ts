/** The benchmark's results as Markdown: the machine, the bounds, every sweep, and the goals with today's figures. */
import type { BenchResults, ServiceRun } from './results.js';

const f1 = (value: number | null | undefined) => (value === null || value === undefined ? '-' : value.toFixed(1));
const f2 = (value: number | null | undefined) => (value === null || value === undefined ? '-' : value.toFixed(2));
const pct = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined ? '-' : `${(100 * value).toFixed(digits)}%`;

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function runRows(runs: readonly ServiceRun[]): string[][] {
  return runs.map((r) => [
    r.mode === 'frames' ? 'StreamFrames' : 'ProcessVideo',
    String(r.streams),
    r.devices,
    String(r.maxBatch),
    r.fusion ? 'on' : 'off',
    r.tracking ? 'on' : 'off',
    f1(r.fps),
    r.latencyMs
      ? `${f1(r.latencyMs.p50)} / ${f1(r.latencyMs.p90)} / ${f1(r.latencyMs.p95)} / ${f1(r.latencyMs.p99)}`
      : `first ${f1(r.firstResultMs?.p50)}`,
    f1(r.stagesMs.decode),
    f1(r.stagesMs.queue),
    f1(r.stagesMs.inference),
    f2(r.stagesMs.fusion),
    f2(r.stagesMs.track),
    f1(r.stagesMs.encode),
    f1(r.stagesMs.transport),
    f2(r.meanBatchSize),
    pct(r.fusionShare, 2),
    f2(r.efficiency),
  ]);
}

const RUN_HEADER = [
  'call',
  'streams',
  'devices',
  'maxBatch',
  'fusion',
  'tracking',
  'frames/s',
  'latency ms p50 / p90 / p95 / p99',
  'decode',
  'queue',
  'inference',
  'fusion',
  'track',
  'encode',
  'transport',
  'batch',
  'fusion share',
  'efficiency',
];

/** `--replicas N`: what each replica's own metrics counted, the totals, and the same run as the client saw it. */
function replicaSection(results: BenchResults): string[] {
  const r = results.replicas!;
  const cores = results.machine.cores;
  // On a machine without accelerators the replicas split the cores one service would have.
  const sharing = !results.machine.cudaProvider;
  const out = ['## Replicas', ''];
  out.push(
    `${r.replicas} replicas started here (each ${r.devices}, maxBatch ${r.maxBatch}) behind one FusionsegClient over ` +
      `their ${r.replicas} addresses (round_robin), ${r.streams} concurrent StreamFrames streams a round, ` +
      `${r.rounds} round(s), ${f1(r.wallSeconds)} s in all. Streams and frames answered are each replica's own ` +
      '`fusionseg_streams_total` and `fusionseg_frames_segmented_total` over the whole rounds; frames/s is its ' +
      `frames in the rounds' steady windows (${f1(r.windowSeconds)} s: from the client's measured window to the ` +
      'end of sending), from the same counters read at those moments.',
  );
  out.push('');
  out.push(
    table(
      ['replica', 'address', 'streams served', 'frames answered', 'frames/s', 'share of frames'],
      [
        ...r.perReplica.map((replica, i) => [
          String(i + 1),
          replica.address,
          String(replica.streams),
          String(replica.frames),
          f2(replica.fps),
          pct(replica.share),
        ]),
        [
          sharing ? `total (${cores} cores shared: this shows distribution, not speed-up)` : 'total',
          `${r.replicas} replicas`,
          String(r.total.streams),
          String(r.total.frames),
          f2(r.total.fps),
          '100%',
        ],
      ],
    ),
  );
  out.push('');
  out.push(
    `The client received ${r.clientAnswered} results (the replicas counted ${r.total.frames}); its steady-state ` +
      `frames/s, median of rounds as for the other runs: ${f1(r.clientFps)}` +
      (r.oneServiceFps === null ? '.' : `, against ${f1(r.oneServiceFps)} for one service at the same streams.`) +
      ` Streams per replica: ${Math.min(...r.perReplica.map((x) => x.streams))} to ` +
      `${Math.max(...r.perReplica.map((x) => x.streams))} (spread ${r.streamSpread}).` +
      (sharing
        ? ` All replicas run on the same ${cores} cores, so their total cannot exceed one service's: on a machine ` +
          'per replica (or a GPU each) the total would grow with the replicas.'
        : ''),
  );
  out.push('');
  const run = results.runs.find((x) => x.sweep === 'replicas');
  const oneService = results.runs.find((x) => x.sweep === 'streams' && x.mode === 'frames' && x.streams === r.streams);
  if (run !== undefined) out.push(table(RUN_HEADER, runRows(oneService ? [oneService, run] : [run])));
  return out;
}

export function renderMarkdown(results: BenchResults): string {
  const { machine, model, workload, bounds, summary } = results;
  const out: string[] = [];
  out.push(
    `# fusionseg benchmark, ${results.date.slice(0, 16).replace('T', ' ')} UTC${results.quick ? ' (quick)' : ''}`,
  );
  out.push('');
  out.push(
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}, ` +
      `ONNX Runtime ${machine.onnxruntime}, CUDA provider ${machine.cudaProvider ? 'installed' : 'not installed (CPU sessions)'}.`,
  );
  out.push(
    `Model: ${model.name} (${model.width}x${model.height}, batches of up to ${model.maxBatch ?? '?'}). ` +
      `Workload: ${workload.video}, frames sent as raw RGB24 at ${workload.frameWidth}x${workload.frameHeight}, ` +
      `${workload.inFlight} frames in flight per stream; server: ${workload.server}. ` +
      `Each figure is the median of ${workload.rounds} interleaved round(s) of ${workload.seconds} s.`,
  );
  out.push('');
  out.push('## Summary');
  out.push('');
  const saturation = results.runs.find(
    (r) =>
      r.sweep === 'streams' &&
      r.mode === 'frames' &&
      r.streams === Math.max(...results.runs.filter((x) => x.sweep === 'streams').map((x) => x.streams)),
  );
  out.push(
    table(
      ['goal', 'target', 'measured', 'met'],
      [
        [
          'pipeline efficiency at saturation (service / model alone)',
          '>= 0.90',
          f2(summary.efficiencyAtSaturation),
          summary.efficiencyAtSaturation === null ? '-' : summary.efficiencyAtSaturation >= 0.9 ? 'yes' : 'no',
        ],
        [
          "fusion's share of a frame's end-to-end time",
          '< 2%',
          pct(summary.fusionShareAtSaturation, 2),
          summary.fusionShareAtSaturation === null ? '-' : summary.fusionShareAtSaturation < 0.02 ? 'yes' : 'no',
        ],
        [
          'throughput lost to fusion (fps on vs off)',
          `within noise (${pct(summary.noise)} between rounds)`,
          pct(summary.fusionThroughputLoss),
          summary.fusionThroughputLoss === null
            ? '-'
            : summary.fusionThroughputLoss <= Math.max(0.02, summary.noise)
              ? 'yes'
              : 'no',
        ],
        [
          'service at saturation vs the PyTorch loop a user would write (same weights, same cores)',
          '>= 4x',
          summary.peerRatio === null || bounds.peer === null
            ? '-'
            : `${f2(summary.peerRatio)}x (${f1(bounds.peer.fps * summary.peerRatio)} vs ${f2(bounds.peer.fps)} frames/s)`,
          summary.peerRatio === null ? '-' : summary.peerRatio >= 4 ? 'yes' : 'no',
        ],
        [
          'throughput lost to tracking (fps on vs off)',
          `within noise (${pct(summary.noise)} between rounds)`,
          pct(summary.trackingThroughputLoss),
          summary.trackingThroughputLoss === null
            ? '-'
            : summary.trackingThroughputLoss <= Math.max(0.02, summary.noise)
              ? 'yes'
              : 'no',
        ],
        ...bounds.tracking
          .filter((cost) => cost.association === 'mask' && Math.round(cost.segments) === 50)
          .map((cost) => {
            const goal = cost.width * cost.height <= 512 * 256 ? 1 : 3;
            return [
              `tracking time per frame, ${cost.width}x${cost.height}, ${cost.segments} segments (tracker alone)`,
              `< ${goal} ms`,
              `${f2(cost.msPerFrame)} ms (p95 ${f2(cost.p95Ms)})`,
              cost.msPerFrame < goal ? 'yes' : 'no',
            ];
          }),
        [
          `${summary.sessionsScaling?.sessions ?? 2} sessions vs 1 (model alone)`,
          machine.cudaProvider ? '>= 1.8x on two GPUs' : 'report (CPU sessions share the cores)',
          summary.sessionsScaling ? `${f2(summary.sessionsScaling.ratio)}x` : '-',
          summary.sessionsScaling === null
            ? '-'
            : machine.cudaProvider
              ? summary.sessionsScaling.ratio >= 1.8
                ? 'yes'
                : 'no'
              : 'n/a',
        ],
      ],
    ),
  );
  out.push('');
  if (summary.largestLoss && saturation) {
    out.push(
      `At saturation (${saturation.streams} streams) a frame spends ${f1(saturation.stagesMs.inference)} ms in inference; ` +
        `the largest other part of its time is ${summary.largestLoss.stage} (${f1(summary.largestLoss.ms)} ms).`,
    );
    out.push('');
  }
  out.push('## Bounds, measured in the same run');
  out.push('');
  out.push(
    table(
      ['bound', 'configuration', 'figure'],
      [
        ...bounds.modelAlone.map((m) => [
          'model alone (same sessions, no gRPC, decode, fusion)',
          `${m.devices}, maxBatch ${m.maxBatch}`,
          `${f1(m.fps)} frames/s`,
        ]),
        ['decode alone (ffmpeg to RGB24 at the model size)', workload.video, `${f1(bounds.decodeFps)} frames/s`],
        ...(bounds.fusion
          ? [
              [
                'fusion alone, WASM',
                `${bounds.fusion.width}x${bounds.fusion.height}, ${f1(bounds.fusion.meanDetections)} detections`,
                `${f2(bounds.fusion.wasmMs)} ms/frame`,
              ],
              ['fusion alone, TypeScript reference', 'same frames', `${f2(bounds.fusion.referenceMs)} ms/frame`],
            ]
          : []),
        ...(bounds.peer
          ? [
              [
                'PyTorch peer: Python loop, ffmpeg decode, the same weights in torch eager, Panoptic FPN combination',
                `${bounds.peer.threads} threads, torch ${bounds.peer.torch}, ${f1(bounds.peer.detectionsPerFrame)} detections`,
                `${f2(bounds.peer.fps)} frames/s, p50 ${f1(bounds.peer.latencyMs.p50)} ms, p95 ${f1(bounds.peer.latencyMs.p95)} ms`,
              ],
            ]
          : []),
        ...bounds.tracking.map((cost) => [
          `tracking alone (${cost.association} association, synthetic moving scene)`,
          `${cost.width}x${cost.height}, ${cost.segments} segments`,
          `${f2(cost.msPerFrame)} ms/frame (p95 ${f2(cost.p95Ms)})`,
        ]),
        ...bounds.transport.map((t) => [
          'transport alone (gRPC echo of frame-sized requests and result-sized responses)',
          `${t.streams} streams, ${(t.requestBytes / 1024).toFixed(0)} KiB / ${(t.responseBytes / 1024).toFixed(1)} KiB`,
          `${f1(t.fps)} frames/s, p50 ${f2(t.latencyMs?.p50)} ms`,
        ]),
      ],
    ),
  );
  out.push('');
  const sections: [string, ServiceRun[]][] = [
    ['Concurrent streams', results.runs.filter((r) => r.sweep === 'streams')],
    ['maxBatch', results.runs.filter((r) => r.sweep === 'maxBatch' || (r.sweep === 'streams' && r === saturation))],
    ['Sessions', results.runs.filter((r) => r.sweep === 'sessions' || (r.sweep === 'streams' && r === saturation))],
    [
      'Fusion on and off',
      results.runs.filter((r) => r.sweep === 'fusionOff' || (r.sweep === 'streams' && r === saturation)),
    ],
    [
      'Tracking on and off',
      results.runs.filter((r) => r.sweep === 'trackingOn' || (r.sweep === 'streams' && r === saturation)),
    ],
  ];
  for (const [title, runs] of sections) {
    if (runs.length === 0 || (title !== 'Concurrent streams' && runs.length < 2)) continue;
    out.push(`## ${title}`);
    out.push('');
    out.push(table(RUN_HEADER, runRows(runs)));
    out.push('');
  }
  if (results.replicas !== null) out.push(...replicaSection(results), '');
  const overload = results.overload;
  if (overload !== null) {
    out.push('## Overload');
    out.push('');
    out.push(
      `${overload.streams} eager streams offering ${overload.offeredFps.toFixed(1)} frames/s ` +
        `(${(overload.offeredFps / overload.modelAloneFps).toFixed(1)}x the model alone), ` +
        `${overload.framesPerStream} frames each, up to 8 in flight per stream; measured over ${(overload.windowMs / 1000).toFixed(1)} s.`,
    );
    out.push('');
    const perStream = overload.perStreamFps;
    out.push(
      table(
        [
          'streams killed',
          'frames answered',
          'total frames/s',
          'vs model alone',
          'per-stream frames/s (min-max)',
          'spread',
        ],
        [
          [
            String(overload.killed),
            `${overload.answered} of ${overload.sent}`,
            overload.totalFps.toFixed(2),
            overload.efficiency.toFixed(2),
            `${Math.min(...perStream).toFixed(2)}-${Math.max(...perStream).toFixed(2)}`,
            `±${(overload.spread * 100).toFixed(0)}%`,
          ],
        ],
      ),
    );
    out.push('');
  }
  out.push(
    'Stage columns are mean ms per frame: decode (server), queue (waiting for a batch and a session), inference, ' +
      "fusion, track (associating instances with the stream's tracks), encode (maps), transport (client latency minus server time: protobuf, HTTP/2, loopback). " +
      "Fusion share: fusion's part of a frame's end-to-end time. Efficiency: frames/s over the model alone on the same sessions and maxBatch. " +
      'ProcessVideo latency: ms from the call to its first result.',
  );
  return `${out.join('\n')}\n`;
}
