import test from 'ava';
import { connect } from 'node:http2';
import { FrameRequest, MapEncoding } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { openFramesRequest, startTestService } from '../helpers/service.js';

const W = 512;
const H = 256;

function frames(count: number, openFirst = true): FrameRequest[] {
  const rgb24 = new Uint8Array(W * H * 3).fill(208);
  const requests: FrameRequest[] = [];
  // Raw maps: large results, so that unread results fill the transport quickly.
  if (openFirst) requests.push(openFramesRequest(MapEncoding.MAP_ENCODING_RAW));
  for (let i = 0; i < count; i++) {
    requests.push({
      payload: {
        $case: 'frame',
        frame: { frameId: i, pts: i, image: { $case: 'raw', raw: { width: W, height: H, rgb24 } } },
      },
    });
  }
  return requests;
}

/** gRPC's length-prefixed framing of one message. */
function grpcFrame(request: FrameRequest): Buffer {
  const body = FrameRequest.encode(request).finish();
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

test('a client that stops reading stops the server: work and memory stay bounded', async (t) => {
  const { service, address } = await startTestService(t, { framesInFlight: 4 }, { width: W, height: H });
  // A raw HTTP/2 client, so that "not reading" really means not reading (HTTP/2 flow control applies).
  const session = connect(`http://${address}`);
  t.teardown(() => session.close());
  const stream = session.request({
    ':method': 'POST',
    ':path': '/fusionseg.v1.SegmentationService/StreamFrames',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.pause();
  const requests = frames(200);
  let sent = 0;
  const writing = (async () => {
    for (const request of requests) {
      if (!stream.write(grpcFrame(request))) await new Promise((resolve) => stream.once('drain', resolve));
      sent++;
    }
    stream.end();
  })();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const early = service.context.framesSegmented;
  const rssEarly = process.memoryUsage().rss;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const late = service.context.framesSegmented;
  t.true(late < 40, `the server segmented ${late} of 200 frames for a client that reads nothing`);
  t.is(late, early, 'work stopped while the client did not read');
  t.true(sent < 100, `the client could send only ${sent} frames: the server stopped reading too`);
  t.true(process.memoryUsage().rss - rssEarly < 64 * 1024 ** 2, 'memory does not keep growing');
  // Reading again lets the stream run to the end.
  let received = 0;
  stream.on('data', (chunk: Buffer) => (received += chunk.length));
  stream.resume();
  await writing;
  await new Promise((resolve) => stream.once('end', resolve));
  t.is(service.context.framesSegmented, 200);
  t.true(received > 200 * W * H * 3, 'every result arrived');
});
