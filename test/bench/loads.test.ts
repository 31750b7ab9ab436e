import test from 'ava';
import { FusionsegClient } from '../../clients/src/client.js';
import { decodeFrames } from '../../bench/harness/frame-source.js';
import { driveStreams } from '../../bench/harness/stream-load.js';
import { driveVideos } from '../../bench/harness/video-load.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { startTestService } from '../helpers/service.js';

// The harness' load drivers against a real server: what they count, with a frame budget (--frames).
test('a frame budget sends exactly that many frames and counts those after the first third', async (t) => {
  const { address } = await startTestService(t, { devices: 'cpu:1,cpu:1' });
  const client = new FusionsegClient(address);
  t.teardown(() => client.close());
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 64, height: 32, frames: 20 });
  const source = await decodeFrames(clip, 64, 32);
  t.is(source.frames.length, 20);

  const frames = await driveStreams(client, source, { streams: 3, inFlight: 2, seconds: 60, frames: 30, fusion: true });
  t.is(frames.frames, 20); // 30 sent; the first 10 results are the warm-up
  t.is(frames.latencies.length, 20);
  t.true(frames.fps > 0 && frames.elapsedMs > 0);
  t.true(frames.stagesMs().inference > 0);
  t.true(frames.meanResultBytes() > 0);

  const videos = await driveVideos(client, clip, { streams: 2, seconds: 60, frames: 24, fusion: false });
  t.is(videos.frames, 24 - 8); // two calls of max 12 frames; the first 8 results are the warm-up
  t.is(videos.firstResults.length, 2);
  t.is(videos.stagesMs().transport, null); // no per-frame send time for uploads
});

test('a timed load stops sending at its deadline and drains what is in flight', async (t) => {
  const { address } = await startTestService(t, { devices: 'cpu:1' });
  const client = new FusionsegClient(address);
  t.teardown(() => client.close());
  const dir = await tempDir(t);
  const source = await decodeFrames(await makeTestClip(dir, { width: 64, height: 32, frames: 5 }), 64, 32);
  const started = performance.now();
  const sample = await driveStreams(client, source, { streams: 2, inFlight: 2, seconds: 1, fusion: true });
  const took = performance.now() - started;
  t.true(took >= 1000 && took < 5000, `${took} ms`);
  t.true(sample.frames > 0);
  t.true(sample.latencies.every((ms) => ms > 0 && ms < 5000));
});
