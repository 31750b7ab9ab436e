import test from 'ava';
import { status } from '@grpc/grpc-js';
import type { FrameResult } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import {
  collect,
  openFramesRequest,
  solidFrameRequest,
  startTestService,
  streamFramesCall,
} from '../helpers/service.js';

const W = 64;
const H = 32;
const CAR: [number, number, number] = [16 * 13, 200, 200];

/** The samples of a Prometheus text exposition: `name{labels}` -> value. */
async function scrape(port: number): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics: ${response.status}`);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

const value = (samples: Map<string, number>, key: string) => samples.get(key) ?? 0;

test('a scrape during a real stream shows it open, its frames in and out, stage times, batches and sessions', async (t) => {
  const { service, client } = await startTestService(t, { metricsPort: 0 });
  const port = service.metricsPort!;
  const before = await scrape(port);
  t.is(value(before, 'fusionseg_streams_open'), 0);
  t.is(value(before, 'fusionseg_frames_received_total{call="StreamFrames"}'), 0);
  t.regex(
    [...before.keys()].find((k) => k.startsWith('fusionseg_model_info')) ?? '',
    /model="unified-test".*input="64x32"/,
  );

  const call = streamFramesCall(client);
  const ended = collect(call);
  const results: FrameResult[] = [];
  call.on('data', (result: FrameResult) => results.push(result));
  call.write(openFramesRequest());
  for (let i = 0; i < 3; i++) call.write(solidFrameRequest(i, W, H, CAR));
  while (results.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));

  const during = await scrape(port);
  t.is(value(during, 'fusionseg_streams_open'), 1);
  t.is(value(during, 'fusionseg_frames_received_total{call="StreamFrames"}'), 3);
  t.is(value(during, 'fusionseg_frames_segmented_total{call="StreamFrames"}'), 3);
  for (const stage of ['decode', 'queue', 'inference', 'fusion', 'encode', 'total']) {
    t.is(value(during, `fusionseg_stage_duration_seconds_count{stage="${stage}"}`), 3, stage);
  }
  t.true(value(during, 'fusionseg_stage_duration_seconds_sum{stage="inference"}') > 0);
  t.true(value(during, 'fusionseg_batch_size_count{session="0",device="cpu:1"}') >= 1);
  t.true(value(during, 'fusionseg_batch_size_sum{session="0",device="cpu:1"}') >= 3); // the warm-up batch counts too
  t.true(value(during, 'fusionseg_session_busy_seconds_total{session="0",device="cpu:1"}') > 0);
  t.is(value(during, 'fusionseg_queue_depth'), 0);
  t.true(during.has('fusionseg_ffmpeg_processes'));
  t.true(value(during, 'fusionseg_process_resident_memory_bytes') > 0);

  // A frame whose bytes do not match its size ends the stream: INVALID_ARGUMENT, counted by reason.
  const bad = solidFrameRequest(3, W, H, CAR);
  if (bad.payload?.$case === 'frame' && bad.payload.frame.image?.$case === 'raw')
    bad.payload.frame.image.raw.width = W + 1;
  call.write(bad);
  t.is((await ended).error?.code, status.INVALID_ARGUMENT);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = await scrape(port);
  t.is(value(after, 'fusionseg_streams_open'), 0);
  t.is(value(after, 'fusionseg_streams_total{call="StreamFrames",outcome="invalid_input"}'), 1);
  t.is(value(after, 'fusionseg_frames_failed_total{call="StreamFrames",reason="invalid_input"}'), 1);
  t.is(value(after, 'fusionseg_frames_received_total{call="StreamFrames"}'), 4);

  const notFound = await fetch(`http://127.0.0.1:${port}/other`);
  t.is(notFound.status, 404);
});

test('a cancelled stream counts as cancelled; without --metrics-port there is no metrics server', async (t) => {
  const { service, client } = await startTestService(t, { metricsPort: 0 });
  const call = streamFramesCall(client);
  const outcome = collect(call);
  call.write(openFramesRequest());
  call.write(solidFrameRequest(0, W, H, CAR));
  await new Promise((resolve) => call.once('data', resolve));
  call.cancel();
  t.is((await outcome).error?.code, status.CANCELLED);
  let samples = await scrape(service.metricsPort!);
  for (let i = 0; i < 50 && value(samples, 'fusionseg_streams_open') !== 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    samples = await scrape(service.metricsPort!);
  }
  t.is(value(samples, 'fusionseg_streams_total{call="StreamFrames",outcome="cancelled"}'), 1);
  const { service: plain } = await startTestService(t);
  t.is(plain.metricsPort, undefined);
});
