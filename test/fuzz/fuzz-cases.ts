/**
 * The seeded fuzz of the two streaming calls, shared by `test/fuzz/fuzz.test.ts` (a few hundred cases in CI)
 * and `npm run fuzz` (scripts/fuzz.ts, as many as asked for).
 *
 * Each case is made from (seed, index) alone by a mulberry32 generator, so one case reproduces by itself:
 * `npm run fuzz -- --seed S --only I --verbose`. A case is a list of request messages (encoded here, sent
 * as bytes, so that malformed wire data can be sent too) plus what the client does around them: half-close
 * at the end or early, never half-close, cancel after some messages, after the first result or after a
 * while. Every call has a deadline; the runner records the status each call ends with and classifies it:
 * documented statuses are fine, INTERNAL is a finding, anything else (UNKNOWN, CANCELLED without a client
 * cancel, a call that does not end) is a violation. After the cases, `checkServerAfter` checks that health
 * is SERVING, that a good frames stream and a good encoded-video stream return every frame, and that
 * ffmpeg children and open fds are back to their baseline.
 */
import { Client, credentials, Metadata, status, type ClientDuplexStream } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import sharp from 'sharp';
import {
  FrameRequest,
  FrameResult,
  InputKind,
  SegmentationServiceService,
  VideoRequest,
  type StreamOptions,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import type { ServerConfig } from '../../server/src/config.js';
import { startService, type RunningService } from '../../server/src/service.js';
import { ffmpegBinary } from '../../server/src/video/ffmpeg.js';
import { writeTestModel } from '../helpers/onnx-models.js';
import { healthCheck } from '../helpers/standard-services.js';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32, the generator of the synthetic fusion scenes)

/** The seed of case `index` of a run seeded with `seed` (so any case is generated without the others). */
export function caseSeed(seed: number, index: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = seededRandom(seed);
  }
  float(): number {
    return this.#next();
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.#next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.#next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((sum, [w]) => sum + w, 0);
    let r = this.#next() * total;
    for (const [w, value] of items) {
      r -= w;
      if (r < 0) return value;
    }
    return items[items.length - 1]![1];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = Math.floor(this.#next() * 4294967296);
      out[i] = v & 0xff;
      if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff;
      if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff;
      if (i + 3 < n) out[i + 3] = (v >>> 24) & 0xff;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Fixtures: small real media the mutations start from

export interface Clip {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** ffmpeg's demuxer name for it. */
  readonly format: string;
  readonly frames: number;
}

export interface Fixtures {
  readonly dir: string;
  /** The media root given to the server: clip.mp4, a symlink out of it, a folder, a text file. */
  readonly mediaRoot: string;
  readonly clips: readonly Clip[];
  readonly jpeg: Uint8Array;
  readonly png: Uint8Array;
  remove(): Promise<void>;
}

const CLIP_W = 96;
const CLIP_H = 48;
const CLIP_FRAMES = 6;

async function ffmpeg(args: string[]): Promise<void> {
  await execFileAsync(ffmpegBinary().path, ['-hide_banner', '-loglevel', 'error', ...args]);
}

/** Makes the clips (mp4/H.264, mkv/H.264, avi/MPEG-4, H.264 Annex B), a JPEG, a PNG and the media root. */
export async function makeFixtures(): Promise<Fixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'fusionseg-fuzz-'));
  const source = ['-f', 'lavfi', '-i', `testsrc=size=${CLIP_W}x${CLIP_H}:rate=10`, '-frames:v', String(CLIP_FRAMES)];
  const h264 = ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'];
  const specs: { name: string; format: string; args: string[] }[] = [
    { name: 'clip.mp4', format: 'mov', args: [...h264, '-movflags', '+faststart'] },
    { name: 'clip.mkv', format: 'matroska', args: h264 },
    { name: 'clip.avi', format: 'avi', args: [] },
    { name: 'clip.h264', format: 'h264', args: [...h264, '-f', 'h264'] },
  ];
  const clips: Clip[] = [];
  for (const spec of specs) {
    const path = join(dir, spec.name);
    await ffmpeg([...source, ...spec.args, '-y', path]);
    clips.push({ name: spec.name, format: spec.format, bytes: await readFile(path), frames: CLIP_FRAMES });
  }
  const gradient = new Uint8Array(80 * 40 * 3);
  for (let i = 0; i < gradient.length; i++) gradient[i] = (i * 7) & 0xff;
  const image = sharp(gradient, { raw: { width: 80, height: 40, channels: 3 } });
  const jpeg = new Uint8Array(await image.clone().jpeg({ quality: 80 }).toBuffer());
  const png = new Uint8Array(await image.clone().png().toBuffer());

  const mediaRoot = join(dir, 'media');
  await mkdir(join(mediaRoot, 'folder'), { recursive: true });
  await writeFile(join(mediaRoot, 'clip.mp4'), clips[0]!.bytes);
  await writeFile(join(mediaRoot, 'notes.txt'), 'not a video\n');
  await writeFile(join(dir, 'outside.mp4'), clips[0]!.bytes);
  await symlink(join(dir, 'outside.mp4'), join(mediaRoot, 'link-out.mp4'));
  await symlink('/etc/passwd', join(mediaRoot, 'passwd.mp4'));
  return { dir, mediaRoot, clips, jpeg, png, remove: () => rm(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------------------
// Cases

export type CallName = 'StreamFrames' | 'ProcessVideo';

/** What the client does around its messages. */
export type ClientAction =
  | { readonly kind: 'half-close' }
  /** Sends the messages and never half-closes: the deadline (or the server's idle timeout) ends the call. */
  | { readonly kind: 'no-half-close' }
  | { readonly kind: 'cancel-after-messages'; readonly messages: number }
  | { readonly kind: 'cancel-after-first-result' }
  | { readonly kind: 'cancel-after-ms'; readonly ms: number };

export interface FuzzCase {
  readonly seed: number;
  readonly index: number;
  readonly call: CallName;
  readonly category: string;
  /** A short, human-readable account of what is sent (for reproduction reports). */
  readonly description: string;
  /** The messages as sent on the wire (encoded requests, or mutated bytes in the wire categories). */
  readonly wire: readonly Uint8Array[];
  readonly action: ClientAction;
  readonly deadlineMs: number;
  /** Frames a StreamFrames call with frames input must answer when it ends OK; undefined = not checked. */
  readonly expectResults: number | undefined;
  /** Values the server should refuse (INVALID_ARGUMENT and friends): an OK status is then reported. */
  readonly invalid: readonly string[];
}

const DEADLINE_MS = 20_000;
const U32_MAX = 4294967295;

/** A case of a run: deterministic in (seed, index). */
export function generateCase(seed: number, index: number, fixtures: Fixtures): FuzzCase {
  const rng = new Rng(caseSeed(seed, index));
  const builder = new CaseBuilder(rng, fixtures);
  const category = rng.weighted<string>([
    [14, 'raw-frames'],
    [10, 'image-frames'],
    [14, 'encoded-video'],
    [10, 'stream-options'],
    [7, 'stream-order'],
    [14, 'upload'],
    [6, 'server-path'],
    [4, 'url'],
    [7, 'video-order'],
    [4, 'wire-garbage'],
    [3, 'huge-int64'],
  ]);
  const built = builder.build(category);
  const action = pickAction(rng, built.messageCount);
  const deadlineMs = action.kind === 'no-half-close' ? rng.int(1200, 2500) : DEADLINE_MS;
  const cancels = action.kind !== 'half-close' && action.kind !== 'no-half-close';
  return {
    seed,
    index,
    call: built.call,
    category,
    description: `${built.notes.join('; ')}; client: ${describeAction(action)}`,
    wire: built.wire,
    action,
    deadlineMs,
    expectResults: cancels || action.kind === 'no-half-close' ? undefined : built.expectResults,
    invalid: built.invalid,
  };
}

function pickAction(rng: Rng, messages: number): ClientAction {
  return rng.weighted<ClientAction>([
    [80, { kind: 'half-close' }],
    [4, { kind: 'no-half-close' }],
    [6, { kind: 'cancel-after-messages', messages: rng.int(0, Math.max(0, messages - 1)) }],
    [4, { kind: 'cancel-after-first-result' }],
    [6, { kind: 'cancel-after-ms', ms: rng.int(20, 600) }],
  ]);
}

function describeAction(action: ClientAction): string {
  switch (action.kind) {
    case 'half-close':
    case 'no-half-close':
    case 'cancel-after-first-result':
      return action.kind;
    case 'cancel-after-messages':
      return `cancel after ${action.messages} messages`;
    case 'cancel-after-ms':
      return `cancel after ${action.ms} ms`;
  }
}

interface Built {
  readonly call: CallName;
  readonly wire: Uint8Array[];
  readonly messageCount: number;
  readonly notes: string[];
  readonly expectResults: number | undefined;
  readonly invalid: string[];
}

const encodeFrame = (request: FrameRequest) => FrameRequest.encode(request).finish();
const encodeVideo = (request: VideoRequest) => VideoRequest.encode(request).finish();
const short = (value: unknown) => {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...(${text.length} chars)` : text;
};

class CaseBuilder {
  readonly notes: string[] = [];
  readonly invalid: string[] = [];

  constructor(
    private readonly rng: Rng,
    private readonly fixtures: Fixtures,
  ) {}

  build(category: string): Built {
    switch (category) {
      case 'raw-frames':
      case 'image-frames':
      case 'stream-options':
        return this.frames(category);
      case 'encoded-video':
        return this.encodedVideo();
      case 'stream-order':
        return this.streamOrder();
      case 'upload':
        return this.upload();
      case 'server-path':
      case 'url':
        return this.namedSource(category);
      case 'video-order':
        return this.videoOrder();
      case 'wire-garbage':
        return this.wireGarbage();
      case 'huge-int64':
        return this.hugeInt64();
      default:
        throw new Error(`unknown category ${category}`);
    }
  }

  // --- options ---------------------------------------------------------------------------------------

  /** Stream options: defaults, or (with `mutate`) random values, in range or not. */
  options(mutate: boolean): StreamOptions {
    const r = this.rng;
    if (!mutate) return { model: '', overload: 0 };
    const options: StreamOptions = { model: '', overload: 0 };
    const enumValue = (field: string, known: number, pool: readonly number[]) => {
      const value = r.pick(pool);
      if (value !== 0) this.notes.push(`${field}=${value}`);
      if (value < 0 || value >= known) this.invalid.push(`${field}=${value}`);
      return value;
    };
    if (r.chance(0.15)) {
      options.model = r.pick(['unknown-model', '../models/default', 'x'.repeat(5000), '\u0000', 'unified-test']);
      this.notes.push(`model=${short(options.model)}`);
      if (options.model !== 'unified-test') this.invalid.push('model');
    }
    if (r.chance(0.5)) {
      const encodings = [0, 1, 2, 3, 4, 0, 2, 4, 5, 99, -1, 2147483647];
      options.output = {
        semanticMap: enumValue('output.semantic_map', 5, encodings),
        instanceMap: enumValue('output.instance_map', 5, encodings),
        panopticPng: r.chance(0.3),
        sourceResolution: r.chance(0.3),
        detections: r.chance(0.3),
        ...(r.chance(0.3) ? { segments: r.chance(0.5) } : {}),
      };
      const o = options.output;
      this.notes.push(`panoptic=${o.panopticPng} source_res=${o.sourceResolution} detections=${o.detections}`);
    }
    if (r.chance(0.6)) {
      const thresholds = [0, 0.25, 0.5, 1, -0.1, 1.5, NaN, Infinity, -Infinity, 3e38, 1e-30];
      const threshold = (field: string) => {
        if (!r.chance(0.5)) return {};
        const value = r.pick(thresholds);
        this.notes.push(`fusion.${field}=${value}`);
        if (!(value >= 0 && value <= 1)) this.invalid.push(`fusion.${field}=${value}`);
        return { [field === 'score_threshold' ? 'scoreThreshold' : 'maskThreshold']: value };
      };
      const minArea = r.chance(0.3) ? r.pick([0, 1, 7, 100000, U32_MAX]) : undefined;
      if (minArea !== undefined) this.notes.push(`fusion.min_new_instance_area=${minArea}`);
      if (minArea === 0) this.invalid.push('fusion.min_new_instance_area=0');
      const disabled = r.chance(0.2);
      if (disabled) this.notes.push('fusion.disabled');
      options.fusion = {
        disabled,
        consistency: enumValue('fusion.consistency', 3, [0, 1, 2, 0, 1, 3, 42, -1]),
        ...threshold('score_threshold'),
        ...threshold('mask_threshold'),
        ...(r.chance(0.3) ? { regionGrowing: r.chance(0.5) } : {}),
        ...(r.chance(0.3) ? { newInstances: r.chance(0.5) } : {}),
        ...(minArea === undefined ? {} : { minNewInstanceArea: minArea }),
      };
    }
    if (r.chance(0.3)) options.overload = enumValue('overload', 3, [0, 1, 2, 3, 7, -5]);
    if (r.chance(0.3)) {
      const iou = r.chance(0.6) ? r.pick([0, 0.1, 0.5, 1, -0.1, 1.5, NaN, Infinity, 3e38, 1e-30]) : undefined;
      const maxAge = r.chance(0.5) ? r.pick([0, 1, 30, 600, 601, U32_MAX]) : undefined;
      const enabled = r.chance(0.7) ? r.chance(0.7) : undefined;
      this.notes.push(`tracking enabled=${enabled} iou=${iou} max_age=${maxAge}`);
      if (iou !== undefined && !(iou > 0 && iou <= 1)) this.invalid.push(`tracking.iou_threshold=${iou}`);
      if (maxAge !== undefined && maxAge > 600) this.invalid.push(`tracking.max_age=${maxAge}`);
      options.tracking = {
        ...(enabled === undefined ? {} : { enabled }),
        ...(iou === undefined ? {} : { iouThreshold: iou }),
        ...(maxAge === undefined ? {} : { maxAge }),
      };
    }
    return options;
  }

  openFrames(input: number, containerFormat = '', mutate = this.rng.chance(0.2)): Uint8Array {
    return encodeFrame({
      payload: { $case: 'open', open: { options: this.options(mutate), input, containerFormat } },
    });
  }

  // --- byte mutations ----------------------------------------------------------------------------------

  /** A mutation of real media bytes: intact, truncated, flipped, spliced with noise, or noise alone. */
  mutate(bytes: Uint8Array, label: string): Uint8Array {
    const r = this.rng;
    const how = r.weighted<string>([
      [4, 'intact'],
      [4, 'truncate'],
      [4, 'flip'],
      [2, 'splice'],
      [1, 'tail'],
      [1, 'zero-range'],
      [1, 'doubled'],
      [2, 'random'],
    ]);
    const out = new Uint8Array(bytes);
    switch (how) {
      case 'intact':
        this.notes.push(`${label} intact (${bytes.length} B)`);
        return out;
      case 'truncate': {
        const keep = r.int(0, Math.max(0, bytes.length - 1));
        this.notes.push(`${label} truncated to ${keep} of ${bytes.length} B`);
        return out.subarray(0, keep);
      }
      case 'flip': {
        const flips = r.int(1, 24);
        const at: number[] = [];
        for (let i = 0; i < flips && out.length > 0; i++) {
          const pos = r.int(0, out.length - 1);
          out[pos] = out[pos]! ^ r.int(1, 255);
          at.push(pos);
        }
        this.notes.push(
          `${label} with ${flips} bytes flipped at ${at.slice(0, 8).join(',')}${flips > 8 ? ',...' : ''}`,
        );
        return out;
      }
      case 'splice': {
        const start = r.int(0, Math.max(0, out.length - 1));
        const length = Math.min(out.length - start, r.int(1, 2048));
        out.set(r.bytes(length), start);
        this.notes.push(`${label} with ${length} random bytes at ${start}`);
        return out;
      }
      case 'tail': {
        const from = r.int(1, Math.max(1, bytes.length - 1));
        this.notes.push(`${label} from byte ${from} on`);
        return out.subarray(from);
      }
      case 'zero-range': {
        const start = r.int(0, Math.max(0, out.length - 1));
        const end = Math.min(out.length, start + r.int(1, 4096));
        out.fill(0, start, end);
        this.notes.push(`${label} zeroed ${start}..${end}`);
        return out;
      }
      case 'doubled': {
        const twice = new Uint8Array(bytes.length * 2);
        twice.set(bytes, 0);
        twice.set(bytes, bytes.length);
        this.notes.push(`${label} twice in a row`);
        return twice;
      }
      default: {
        const n = r.pick([0, 1, 16, 188, 1000, r.int(0, 20000)]);
        this.notes.push(`${n} random bytes instead of ${label}`);
        return r.bytes(n);
      }
    }
  }

  /** Splits bytes into chunks of random sizes, now and then an empty one. */
  chunks(bytes: Uint8Array): Uint8Array[] {
    const r = this.rng;
    const max = r.pick([64, 1000, 8192, 65536]);
    const out: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.length;) {
      if (r.chance(0.03)) out.push(new Uint8Array(0));
      const size = r.int(1, max);
      out.push(bytes.subarray(offset, offset + size));
      offset += size;
    }
    if (r.chance(0.05)) out.push(new Uint8Array(0));
    return out;
  }

  // --- StreamFrames ------------------------------------------------------------------------------------

  rawFrame(frameId: number): FrameRequest {
    const r = this.rng;
    const kind = r.weighted<string>([
      [6, 'valid'],
      [3, 'short'],
      [3, 'long'],
      [1, 'zero-size'],
      [1, 'huge-size'],
      [1, 'odd'],
      [0.3, 'over-limit'],
    ]);
    let width = r.int(1, 130);
    let height = r.int(1, 70);
    let length = width * height * 3;
    switch (kind) {
      case 'short':
        length = r.int(0, Math.max(0, length - 1));
        break;
      case 'long':
        length += r.int(1, 3000);
        break;
      case 'zero-size':
        [width, height] = r.pick([
          [0, 0],
          [0, 10],
          [10, 0],
        ] as const);
        length = r.pick([0, 30, 300]);
        break;
      case 'huge-size':
        [width, height] = r.pick([
          [65536, 65536],
          [U32_MAX, U32_MAX],
          [U32_MAX, 1],
          [100000, 100000],
          [8193, 1],
          [1431655766, 1], // width * 3 overflows 32 bits to 2
        ] as const);
        length = r.pick([0, 2, 3, 300]);
        break;
      case 'odd':
        width = 1;
        height = 1;
        length = 3;
        break;
      case 'over-limit':
        // Over the server's 32 MiB message limit.
        width = 4000;
        height = 2900;
        length = width * height * 3;
        break;
    }
    this.notes.push(`raw ${width}x${height} with ${length} B (${kind})`);
    const rgb24 = kind === 'over-limit' ? new Uint8Array(length) : this.rng.bytes(length);
    return {
      payload: {
        $case: 'frame',
        frame: { frameId, pts: r.int(-1000, 1000), image: { $case: 'raw', raw: { width, height, rgb24 } } },
      },
    };
  }

  imageFrame(frameId: number): FrameRequest {
    const r = this.rng;
    const format = r.pick(['jpeg', 'png'] as const);
    const source = r.chance(0.15) ? (format === 'jpeg' ? this.fixtures.png : this.fixtures.jpeg) : undefined;
    const base = source ?? (format === 'jpeg' ? this.fixtures.jpeg : this.fixtures.png);
    const bytes = this.mutate(base, source === undefined ? format : `the other format as ${format}`);
    const image = format === 'jpeg' ? { $case: 'jpeg' as const, jpeg: bytes } : { $case: 'png' as const, png: bytes };
    return { payload: { $case: 'frame', frame: { frameId, pts: frameId, image } } };
  }

  frames(category: string): Built {
    const r = this.rng;
    const input = category === 'stream-options' && r.chance(0.3) ? r.pick([0, 1, 99, -1, 3]) : r.pick([0, 1]);
    if (input !== 0) this.notes.push(`input=${input}`);
    if (input < 0 || input > 2) this.invalid.push(`input=${input}`);
    const wire = [this.openFrames(input, '', category === 'stream-options')];
    const count = r.int(1, category === 'stream-options' ? 2 : 4);
    let valid = true;
    for (let i = 0; i < count; i++) {
      const useRaw = category === 'raw-frames' || (category === 'stream-options' && r.chance(0.7));
      const notesBefore = this.notes.length;
      const frame = useRaw ? this.rawFrame(i) : this.imageFrame(i);
      const note = this.notes.slice(notesBefore).join(' ');
      if (!/\(valid\)|\(odd\)|intact/.test(note) || /other format/.test(note)) valid = false;
      wire.push(encodeFrame(frame));
    }
    return {
      call: 'StreamFrames',
      wire,
      messageCount: wire.length,
      notes: [`StreamFrames ${category}`, ...this.notes],
      expectResults: valid && input >= 0 && input <= 1 ? count : undefined,
      invalid: this.invalid,
    };
  }

  encodedVideo(): Built {
    const r = this.rng;
    const clip = r.pick(this.fixtures.clips);
    const format = r.weighted<string>([
      [6, clip.format],
      [3, ''],
      [1, 'h264'],
      [1, 'matroska'],
      [1, 'mpegts'],
      [1, 'hls'],
      [1, 'concat'],
      [1, 'image2'],
      [1, 'lavfi'],
      [1, 'rawvideo'],
      [1, 'no-such-demuxer'],
      [0.5, '-i /etc/passwd'],
      [0.5, 'x'.repeat(300)],
    ]);
    this.notes.push(`open input=ENCODED_VIDEO container_format=${short(format)}`);
    const wire = [this.openFrames(InputKind.INPUT_KIND_ENCODED_VIDEO, format)];
    for (const data of this.chunks(this.mutate(clip.bytes, clip.name))) {
      wire.push(encodeFrame({ payload: { $case: 'videoChunk', videoChunk: { data } } }));
    }
    this.notes.push(`${wire.length - 1} chunks`);
    return {
      call: 'StreamFrames',
      wire,
      messageCount: wire.length,
      notes: ['StreamFrames encoded-video', ...this.notes],
      expectResults: undefined,
      invalid: this.invalid,
    };
  }

  streamOrder(): Built {
    const r = this.rng;
    const goodFrame = (id: number) =>
      encodeFrame({
        payload: {
          $case: 'frame',
          frame: { frameId: id, pts: id, image: { $case: 'raw', raw: { width: 4, height: 2, rgb24: r.bytes(24) } } },
        },
      });
    const chunk = () => encodeFrame({ payload: { $case: 'videoChunk', videoChunk: { data: r.bytes(100) } } });
    const empty = () => encodeFrame({ payload: undefined });
    const noImage = () => encodeFrame({ payload: { $case: 'frame', frame: { frameId: 1, pts: 0, image: undefined } } });
    const open = () => this.openFrames(0, '', false);
    const openVideo = () => this.openFrames(InputKind.INPUT_KIND_ENCODED_VIDEO, 'h264', false);
    const variants: [string, () => Uint8Array[], number | undefined][] = [
      ['no messages at all', () => [], 0],
      ['open only', () => [open()], 0],
      ['frame before open', () => [goodFrame(1), open()], undefined],
      ['open twice', () => [open(), open(), goodFrame(1)], undefined],
      ['open, frame, open', () => [open(), goodFrame(1), open()], undefined],
      ['video chunk in a frames stream', () => [open(), chunk()], undefined],
      ['frame in an encoded-video stream', () => [openVideo(), goodFrame(1)], undefined],
      ['open of an encoded-video stream and nothing else', () => [openVideo()], undefined],
      ['an empty message first', () => [empty(), goodFrame(1)], undefined],
      ['an empty message after open', () => [open(), empty()], undefined],
      ['a frame without an image', () => [open(), noImage()], undefined],
      [
        'an open with no options',
        () => [encodeFrame({ payload: { $case: 'open', open: { input: 0, containerFormat: '' } } }), goodFrame(1)],
        1,
      ],
    ];
    const [name, make, expect] = r.pick(variants);
    this.notes.push(name);
    const wire = make();
    return {
      call: 'StreamFrames',
      wire,
      messageCount: wire.length,
      notes: ['StreamFrames order', ...this.notes],
      expectResults: expect,
      invalid: this.invalid,
    };
  }

  // --- ProcessVideo ------------------------------------------------------------------------------------

  sampling(): { fps: number; startTime: number; maxFrames: number } {
    const r = this.rng;
    const fps = r.chance(0.35)
      ? r.pick([1, 2.5, 30, 1000, 1001, -1, NaN, Infinity, -Infinity, 1e-7, 1e300, 5e-324])
      : 0;
    const startTime = r.chance(0.3) ? r.pick([0.1, 1e-7, 0.45, 100, -1, NaN, Infinity, 1e300, 5e-324]) : 0;
    const maxFrames = r.chance(0.3) ? r.pick([1, 2, 3, 100, U32_MAX]) : 0;
    if (fps !== 0) this.notes.push(`fps=${fps}`);
    if (startTime !== 0) this.notes.push(`start_time=${startTime}`);
    if (maxFrames !== 0) this.notes.push(`max_frames=${maxFrames}`);
    if (!(fps >= 0 && fps <= 1000)) this.invalid.push(`fps=${fps}`);
    if (!(startTime >= 0 && Number.isFinite(startTime))) this.invalid.push(`start_time=${startTime}`);
    return { fps, startTime, maxFrames };
  }

  upload(): Built {
    const r = this.rng;
    const clip = r.pick(this.fixtures.clips);
    const containerFormat = r.weighted<string>([
      [6, ''],
      [3, clip.format],
      [1, 'mpegts'],
      [1, 'hls'],
      [1, 'concat'],
      [1, 'image2'],
      [1, 'nonsense'],
    ]);
    const bytes = this.mutate(clip.bytes, clip.name);
    const sizeBytes = r.pick([0, 0, bytes.length, 1, bytes.length + 1000, 2 ** 40]);
    this.notes.push(`upload container_format=${short(containerFormat)} size_bytes=${sizeBytes}`);
    const open = encodeVideo({
      payload: {
        $case: 'open',
        open: {
          options: this.options(r.chance(0.2)),
          source: { $case: 'upload', upload: { containerFormat, sizeBytes } },
          ...this.sampling(),
        },
      },
    });
    const wire = [open];
    for (const data of this.chunks(bytes)) wire.push(encodeVideo({ payload: { $case: 'chunk', chunk: { data } } }));
    this.notes.push(`${wire.length - 1} chunks`);
    return {
      call: 'ProcessVideo',
      wire,
      messageCount: wire.length,
      notes: ['ProcessVideo upload', ...this.notes],
      expectResults: undefined,
      invalid: this.invalid,
    };
  }

  namedSource(category: string): Built {
    const r = this.rng;
    let source: NonNullable<VideoRequest['payload'] & { $case: 'open' }>['open']['source'];
    if (category === 'server-path') {
      const path = r.pick([
        'clip.mp4',
        'clip.mp4',
        './clip.mp4',
        'folder/../clip.mp4',
        '../../../../etc/passwd',
        '/etc/passwd',
        '..',
        '',
        'clip.mp4\u0000.txt',
        'missing.mp4',
        'folder',
        'notes.txt',
        'link-out.mp4',
        'passwd.mp4',
        '%2e%2e/%2e%2e/etc/passwd',
        '..\\..\\etc\\passwd',
        'file:clip.mp4',
        'concat:clip.mp4|clip.mp4',
        '/proc/self/environ',
        'x/'.repeat(2000),
      ]);
      this.notes.push(`server_path=${short(path)}`);
      source = { $case: 'serverPath', serverPath: path };
    } else {
      const url = r.pick([
        'http://127.0.0.1:1/clip.mp4',
        'http://[::1]:1/clip.mp4',
        'http://[::ffff:127.0.0.1]:1/x',
        'http://0x7f000001:1/x',
        'http://localhost:1/a.m3u8',
        'https://127.0.0.1:1/x',
        'file:///etc/passwd',
        'ftp://127.0.0.1:1/x',
        'rtsp://127.0.0.1:1/stream',
        'concat:/etc/passwd|/etc/hosts',
        'data:video/mp4;base64,AAAA',
        'subfile,,start,0,end,10,,:/etc/passwd',
        'javascript:alert(1)',
        'not a url',
        '',
        `http://127.0.0.1:1/${'a'.repeat(3000)}`,
      ]);
      this.notes.push(`url=${short(url)}`);
      source = { $case: 'url', url };
    }
    const wire = [
      encodeVideo({ payload: { $case: 'open', open: { options: this.options(false), source, ...this.sampling() } } }),
    ];
    if (r.chance(0.15)) {
      wire.push(encodeVideo({ payload: { $case: 'chunk', chunk: { data: r.bytes(50) } } }));
      this.notes.push('then a chunk');
    }
    return {
      call: 'ProcessVideo',
      wire,
      messageCount: wire.length,
      notes: [`ProcessVideo ${category}`, ...this.notes],
      expectResults: undefined,
      invalid: this.invalid,
    };
  }

  videoOrder(): Built {
    const r = this.rng;
    const clip = this.fixtures.clips[0]!;
    const openUpload = () =>
      encodeVideo({
        payload: {
          $case: 'open',
          open: {
            options: this.options(false),
            source: { $case: 'upload', upload: { containerFormat: '', sizeBytes: 0 } },
            fps: 0,
            startTime: 0,
            maxFrames: 0,
          },
        },
      });
    const chunk = (data: Uint8Array = clip.bytes) => encodeVideo({ payload: { $case: 'chunk', chunk: { data } } });
    const variants: [string, () => Uint8Array[]][] = [
      ['no messages at all', () => []],
      ['chunk before open', () => [chunk(), openUpload()]],
      ['upload open twice', () => [openUpload(), openUpload(), chunk()]],
      ['upload, chunk, open', () => [openUpload(), chunk(), openUpload()]],
      ['upload with no chunks', () => [openUpload()]],
      ['upload with only empty chunks', () => [openUpload(), chunk(new Uint8Array(0)), chunk(new Uint8Array(0))]],
      [
        'open with no source',
        () => [encodeVideo({ payload: { $case: 'open', open: { fps: 0, startTime: 0, maxFrames: 0 } } })],
      ],
      ['an empty message first', () => [encodeVideo({ payload: undefined }), chunk()]],
      ['an empty message mid-upload', () => [openUpload(), chunk(clip.bytes.subarray(0, 500)), encodeVideo({})]],
    ];
    const [name, make] = r.pick(variants);
    this.notes.push(name);
    const wire = make();
    return {
      call: 'ProcessVideo',
      wire,
      messageCount: wire.length,
      notes: ['ProcessVideo order', ...this.notes],
      expectResults: undefined,
      invalid: this.invalid,
    };
  }

  // --- wire level -------------------------------------------------------------------------------------

  /** Bytes that are not (or not quite) a valid request message. */
  wireGarbage(): Built {
    const r = this.rng;
    const call: CallName = r.chance(0.5) ? 'StreamFrames' : 'ProcessVideo';
    const valid = call === 'StreamFrames' ? this.openFrames(0, '', false) : this.videoOrderOpen();
    const how = r.pick(['random bytes', 'truncated open', 'open with flipped bytes', 'bad tag'] as const);
    let bad: Uint8Array;
    if (how === 'random bytes') bad = r.bytes(r.int(1, 200));
    else if (how === 'truncated open') bad = valid.subarray(0, r.int(1, Math.max(1, valid.length - 1)));
    else if (how === 'bad tag')
      bad = Uint8Array.from([0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    else {
      bad = new Uint8Array(valid);
      for (let i = 0; i < 3; i++) {
        const pos = r.int(0, bad.length - 1);
        bad[pos] = bad[pos]! ^ r.int(1, 255);
      }
    }
    const first = r.chance(0.5);
    const wire = first ? [bad] : [valid, bad];
    this.notes.push(
      `${how} (${bad.length} B, hex ${Buffer.from(bad.subarray(0, 24)).toString('hex')}) ${first ? 'as the first message' : 'after a valid open'}`,
    );
    return {
      call,
      wire,
      messageCount: wire.length,
      notes: [`${call} wire-garbage`, ...this.notes],
      expectResults: undefined,
      invalid: this.invalid,
    };
  }

  videoOrderOpen(): Uint8Array {
    return encodeVideo({
      payload: {
        $case: 'open',
        open: {
          source: { $case: 'upload', upload: { containerFormat: '', sizeBytes: 0 } },
          fps: 0,
          startTime: 0,
          maxFrames: 0,
        },
      },
    });
  }

  /** 64-bit fields beyond 2^53 (frame_id, pts, size_bytes): valid protobuf, beyond JavaScript's safe integers. */
  hugeInt64(): Built {
    const r = this.rng;
    const value = r.pick(['18446744073709551615', '9007199254740993', '-9223372036854775808', '9223372036854775807']);
    if (r.chance(0.6)) {
      const field = r.pick(['frame_id', 'pts'] as const);
      const frameId = field === 'frame_id' ? (value.startsWith('-') ? '1' : value) : '1';
      // pts is int64: 2^64 - 1 does not fit; its extremes are the signed ones.
      const pts = field === 'pts' ? (value === '18446744073709551615' ? '9223372036854775807' : value) : '0';
      this.notes.push(`a valid raw 4x2 frame with ${field}=${field === 'frame_id' ? frameId : pts}`);
      const frame = encodeFrame({
        payload: {
          $case: 'frame',
          frame: {
            // The generated types say number; the wire writer takes the decimal strings of 64-bit values.
            frameId: frameId as unknown as number,
            pts: pts as unknown as number,
            image: { $case: 'raw', raw: { width: 4, height: 2, rgb24: r.bytes(24) } },
          },
        },
      });
      const wire = [this.openFrames(0, '', false), frame];
      return {
        call: 'StreamFrames',
        wire,
        messageCount: 2,
        notes: ['StreamFrames huge-int64', ...this.notes],
        expectResults: undefined,
        invalid: this.invalid,
      };
    }
    const size = value.startsWith('-') ? '18446744073709551615' : value;
    this.notes.push(`upload size_bytes=${size}`);
    const wire = [
      encodeVideo({
        payload: {
          $case: 'open',
          open: {
            source: { $case: 'upload', upload: { containerFormat: '', sizeBytes: size as unknown as number } },
            fps: 0,
            startTime: 0,
            maxFrames: 0,
          },
        },
      }),
      encodeVideo({ payload: { $case: 'chunk', chunk: { data: this.fixtures.clips[0]!.bytes } } }),
    ];
    return {
      call: 'ProcessVideo',
      wire,
      messageCount: 2,
      notes: ['ProcessVideo huge-int64', ...this.notes],
      expectResults: undefined,
      invalid: this.invalid,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Running cases

/** Statuses the API documents for the streaming calls (CANCELLED only when the client cancelled). */
export const DOCUMENTED: ReadonlySet<number> = new Set([
  status.OK,
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.PERMISSION_DENIED,
  status.RESOURCE_EXHAUSTED,
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.UNAUTHENTICATED,
]);

export const statusName = (code: number | undefined): string =>
  code === undefined ? 'NO_STATUS' : ((status as unknown as Record<number, string>)[code] ?? `CODE_${code}`);

export type Verdict =
  /** A documented status. */
  | 'ok'
  /** INTERNAL: a bug by the server's own definition. */
  | 'internal'
  /** Not a documented status (UNKNOWN, CANCELLED without a client cancel, ...). */
  | 'undocumented'
  /** The call did not end within its deadline plus a grace period. */
  | 'hang'
  /** Ended OK but did not answer each frame once, in order. */
  | 'contract'
  /** Ended OK although the open carried a value the API says is invalid. */
  | 'accepted-invalid'
  /** (Isolated runs) the call ended but left a stream open or an ffmpeg running on the server. */
  | 'leak';

export interface CaseOutcome {
  readonly fuzzCase: FuzzCase;
  readonly code: number | undefined;
  readonly details: string;
  readonly results: number;
  readonly ms: number;
  readonly clientCancelled: boolean;
  readonly verdict: Verdict;
  readonly note: string;
}

const HANG_GRACE_MS = 10_000;

/** A client that sends and receives bytes: requests are pre-encoded (or deliberately malformed). */
export function rawClient(address: string): Client {
  return new Client(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
}

const identity = (value: Uint8Array): Buffer => Buffer.from(value.buffer, value.byteOffset, value.byteLength);

function openCall(client: Client, call: CallName, deadline: number, metadata: Metadata) {
  const path =
    call === 'StreamFrames'
      ? SegmentationServiceService.streamFrames.path
      : SegmentationServiceService.processVideo.path;
  return client.makeBidiStreamRequest<Uint8Array, Buffer>(path, identity, (b) => b, metadata, { deadline });
}

/** Writes one message; resolves when the call can take more (or has ended). */
function writeOne(call: ClientDuplexStream<Uint8Array, Buffer>, message: Uint8Array, ended: () => boolean) {
  if (ended()) return Promise.resolve();
  if (call.write(message)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('status', done);
      call.off('close', done);
      resolve();
    };
    call.once('drain', done);
    call.once('status', done);
    call.once('close', done);
  });
}

/** Runs one case against `client`; never throws, always ends (a hang is recorded as one). */
export async function runCase(client: Client, fuzzCase: FuzzCase, metadata = new Metadata()): Promise<CaseOutcome> {
  const started = performance.now();
  const call = openCall(client, fuzzCase.call, Date.now() + fuzzCase.deadlineMs, metadata);
  let results = 0;
  let inOrder = true;
  let clientCancelled = false;
  let finished = false;
  const cancel = () => {
    if (finished) return;
    clientCancelled = true;
    call.cancel();
  };
  const ended = new Promise<{ code: number | undefined; details: string }>((resolve) => {
    call.on('data', (bytes: Buffer) => {
      try {
        const result = FrameResult.decode(bytes);
        if (result.index !== results) inOrder = false;
      } catch {
        inOrder = false;
      }
      results++;
      if (results === 1 && fuzzCase.action.kind === 'cancel-after-first-result') cancel();
    });
    call.on('error', () => {}); // the status event carries the outcome
    call.on('status', (s: { code: number; details: string }) => {
      finished = true;
      resolve({ code: s.code, details: s.details });
    });
  });
  let timer: NodeJS.Timeout | undefined;
  if (fuzzCase.action.kind === 'cancel-after-ms') timer = setTimeout(cancel, fuzzCase.action.ms);
  const hang = new Promise<undefined>((resolve) => {
    const t = setTimeout(() => resolve(undefined), fuzzCase.deadlineMs + HANG_GRACE_MS);
    void ended.then(() => clearTimeout(t));
  });
  const sending = (async () => {
    for (const [i, message] of fuzzCase.wire.entries()) {
      if (fuzzCase.action.kind === 'cancel-after-messages' && i === fuzzCase.action.messages) {
        cancel();
        return;
      }
      await writeOne(call, message, () => finished);
      if (finished) return;
    }
    if (fuzzCase.action.kind === 'cancel-after-messages') cancel();
    else if (fuzzCase.action.kind !== 'no-half-close' && !finished) call.end();
  })();
  // By default a call the server ended early is left as it is (no half-close), as a client that stops
  // writing on an error does; FUZZ_END_AFTER_STATUS=1 half-closes it, to tell server leaks from that.
  if (process.env['FUZZ_END_AFTER_STATUS'] === '1') void ended.then(() => call.end());
  const outcome = await Promise.race([ended, hang]);
  clearTimeout(timer);
  await sending.catch(() => {});
  const ms = Math.round(performance.now() - started);
  if (outcome === undefined) {
    call.cancel();
    return verdictOf(fuzzCase, undefined, 'no status', results, ms, clientCancelled, true);
  }
  return verdictOf(fuzzCase, outcome.code, outcome.details, results, ms, clientCancelled, inOrder);
}

function verdictOf(
  fuzzCase: FuzzCase,
  code: number | undefined,
  details: string,
  results: number,
  ms: number,
  clientCancelled: boolean,
  inOrder: boolean,
): CaseOutcome {
  const base = { fuzzCase, code, details, results, ms, clientCancelled };
  const is = (expected: status) => code === (expected as number);
  if (code === undefined)
    return { ...base, verdict: 'hang', note: `no status within ${fuzzCase.deadlineMs + HANG_GRACE_MS} ms` };
  if (is(status.INTERNAL)) return { ...base, verdict: 'internal', note: details };
  if (is(status.CANCELLED)) {
    return clientCancelled
      ? { ...base, verdict: 'ok', note: '' }
      : { ...base, verdict: 'undocumented', note: 'CANCELLED although the client did not cancel' };
  }
  if (!DOCUMENTED.has(code)) return { ...base, verdict: 'undocumented', note: details };
  if (is(status.OK)) {
    if (!inOrder) return { ...base, verdict: 'contract', note: 'results out of order (index != position)' };
    if (fuzzCase.expectResults !== undefined && results !== fuzzCase.expectResults) {
      return { ...base, verdict: 'contract', note: `${results} results for ${fuzzCase.expectResults} frames` };
    }
    if (fuzzCase.invalid.length > 0) {
      return { ...base, verdict: 'accepted-invalid', note: `OK with ${fuzzCase.invalid.join(', ')}` };
    }
  }
  return { ...base, verdict: 'ok', note: '' };
}

/**
 * Runs cases `indexes` of `seed`, `concurrency` at a time; `onOutcome` sees each as it ends. With
 * `afterEach` (for isolated runs, concurrency 1), a case whose check returns a problem is marked a leak.
 */
export async function runCases(
  client: Client,
  fixtures: Fixtures,
  seed: number,
  indexes: readonly number[],
  concurrency: number,
  onOutcome: (outcome: CaseOutcome) => void = () => {},
  afterEach?: () => Promise<string | undefined>,
): Promise<CaseOutcome[]> {
  const outcomes: CaseOutcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < indexes.length) {
      const index = indexes[next++]!;
      let outcome = await runCase(client, generateCase(seed, index, fixtures));
      const leak = await afterEach?.();
      if (leak !== undefined) {
        outcome =
          outcome.verdict === 'ok'
            ? { ...outcome, verdict: 'leak', note: leak }
            : { ...outcome, note: `${outcome.note}; ${leak}` };
      }
      outcomes.push(outcome);
      onOutcome(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return outcomes.sort((a, b) => a.fuzzCase.index - b.fuzzCase.index);
}

/**
 * For isolated runs: after a case, the server must be back to no stream open and no ffmpeg within 3 s.
 * A stream left open is counted once (the next cases are measured against what is still open).
 */
export function leakCheck(server: FuzzServer, baseline: Baseline): () => Promise<string | undefined> {
  let leftOpen = 0;
  return async () => {
    const open = await pollUntil(
      () => server.service.context.activeStreams,
      (n) => n <= leftOpen,
      3000,
      50,
    );
    const ffmpeg = await pollUntil(ffmpegChildren, (n) => n <= baseline.ffmpeg, 3000, 50);
    const before = leftOpen;
    leftOpen = open;
    if (open <= before && ffmpeg <= baseline.ffmpeg) return undefined;
    return `3 s after the call ended: ${open} streams open (${before} before it), ${ffmpeg} ffmpeg/ffprobe children`;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Reports

/** Counts per status, and per verdict. */
export function histogram(outcomes: readonly CaseOutcome[]): string {
  const byStatus = new Map<string, number>();
  const byVerdict = new Map<string, number>();
  const byCall = new Map<string, number>();
  for (const o of outcomes) {
    const name = statusName(o.code) + (o.code === status.CANCELLED && o.clientCancelled ? ' (client cancel)' : '');
    byStatus.set(name, (byStatus.get(name) ?? 0) + 1);
    byVerdict.set(o.verdict, (byVerdict.get(o.verdict) ?? 0) + 1);
    const key = `${o.fuzzCase.call} ${statusName(o.code)}`;
    byCall.set(key, (byCall.get(key) ?? 0) + 1);
  }
  const width = Math.max(...outcomes.map(() => 0), ...[...byStatus.keys()].map((k) => k.length));
  const lines = [...byStatus.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(
      ([name, n]) =>
        `  ${name.padEnd(width)} ${String(n).padStart(5)} ${'#'.repeat(Math.ceil((60 * n) / outcomes.length))}`,
    );
  const perCall = [...byCall.entries()].sort().map(([k, n]) => `${k}: ${n}`);
  const verdicts = [...byVerdict.entries()].map(([k, n]) => `${k}: ${n}`).join(', ');
  const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const p = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0;
  return [
    `statuses over ${outcomes.length} cases:`,
    ...lines,
    `per call: ${perCall.join(', ')}`,
    `verdicts: ${verdicts}`,
    `call time ms: p50 ${p(0.5)}, p95 ${p(0.95)}, max ${p(1)}`,
  ].join('\n');
}

/** One line per case that is not plainly fine, with what reproduces it. */
export function findings(outcomes: readonly CaseOutcome[]): string[] {
  return outcomes
    .filter((o) => o.verdict !== 'ok')
    .map(
      (o) =>
        `[${o.verdict}] seed ${o.fuzzCase.seed} case ${o.fuzzCase.index} (${o.fuzzCase.category}): ` +
        `${statusName(o.code)} "${o.details.slice(0, 160)}" after ${o.results} results, ${o.ms} ms. ` +
        `${o.note ? `${o.note.slice(0, 160)}. ` : ''}Sent: ${o.fuzzCase.description}`,
    );
}

// ---------------------------------------------------------------------------------------------------------
// The server under test and its resources

export interface FuzzServer {
  readonly service: RunningService;
  readonly address: string;
  readonly client: Client;
  stop(): Promise<void>;
}

/** The server configuration the fuzz runs with: a media root with traps in it, http URLs allowed. */
export function fuzzServerConfig(fixtures: Fixtures): Partial<ServerConfig> {
  return {
    devices: 'cpu:1',
    fusionWorkers: 1,
    drainTimeoutMs: 2000,
    mediaRoot: fixtures.mediaRoot,
    allowUrlSchemes: ['http'],
    urlTimeoutMs: 2000,
    maxUploadBytes: 4 * 1024 * 1024,
    // A client whose cancel never reaches the server (grpc-js can drop a cancel issued right after the first
    // write) leaves a stream that only the idle timeout ends: short here, so the after-check sees it end.
    streamIdleTimeoutMs: 3000,
  };
}

/**
 * Starts a service in-process on 127.0.0.1:0, on `modelDir` or, when it is undefined, on the generated
 * test model (the one startTestService uses), written into the fixtures' folder.
 */
export async function startFuzzServer(
  fixtures: Fixtures,
  modelDir: string | undefined,
  extra: Partial<ServerConfig> = {},
): Promise<FuzzServer> {
  const model = modelDir ?? (await writeTestModel(join(fixtures.dir, 'model')));
  const service = await startService(
    { ...fuzzServerConfig(fixtures), ...extra, modelDir: model, address: '127.0.0.1:0' },
    { log: pino({ level: 'error' }, pino.destination(2)) },
  );
  const address = `127.0.0.1:${service.port}`;
  const client = rawClient(address);
  return {
    service,
    address,
    client,
    async stop() {
      client.close();
      await service.stop();
    },
  };
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** ffmpeg and ffprobe processes that are children of this process. */
export async function ffmpegChildren(): Promise<number> {
  try {
    const { stdout } = await execFileAsync('ps', ['-o', 'args=', '--ppid', String(process.pid)]);
    return stdout.split('\n').filter((line) => /ff(mpeg|probe)/.test(line)).length;
  } catch {
    return 0; // ps exits 1 when no process matches
  }
}

/** Polls `read` until `ok` holds or `timeoutMs` passes; returns the last value read. */
export async function pollUntil<T>(
  read: () => T | Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() >= until) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The frame counters of the service's metrics: received, answered (segmented, or answered as dropped by a
 * live stream), failed (all calls and reasons).
 */
export async function frameCounters(
  service: RunningService,
): Promise<{ received: number; answered: number; failed: number; failedByReason: Record<string, number> }> {
  const metrics = await service.context.metrics.registry.getMetricsAsJSON();
  const sum = (name: string) =>
    metrics.find((m) => m.name === name)?.values.reduce((total, v) => total + Number(v.value), 0) ?? 0;
  const failedByReason: Record<string, number> = {};
  for (const v of metrics.find((m) => m.name === 'fusionseg_frames_failed_total')?.values ?? []) {
    const reason = String(v.labels['reason'] ?? '?');
    failedByReason[reason] = (failedByReason[reason] ?? 0) + Number(v.value);
  }
  return {
    received: sum('fusionseg_frames_received_total'),
    answered: sum('fusionseg_frames_segmented_total') + sum('fusionseg_frames_dropped_total'),
    failed: sum('fusionseg_frames_failed_total'),
    failedByReason,
  };
}

export interface Baseline {
  readonly fds: number;
  readonly ffmpeg: number;
}

export interface AfterCheck {
  readonly health: string;
  readonly goodFrames: { readonly code: number | undefined; readonly results: number; readonly expected: number };
  readonly goodVideo: { readonly code: number | undefined; readonly results: number; readonly expected: number };
  readonly ffmpeg: number;
  readonly fds: number;
  readonly baseline: Baseline;
  readonly fdMargin: number;
  readonly streamsOpen: number;
  readonly counters: Awaited<ReturnType<typeof frameCounters>>;
  readonly problems: readonly string[];
}

/** A good frames stream and a good encoded-video stream (used for the baseline and the check after). */
export function goodCases(fixtures: Fixtures): FuzzCase[] {
  const frames = 5;
  const open = (input: number, containerFormat: string) =>
    encodeFrame({ payload: { $case: 'open', open: { options: { model: '', overload: 0 }, input, containerFormat } } });
  const rgb24 = new Uint8Array(64 * 32 * 3).fill(200);
  const frameWire = [open(0, '')];
  for (let i = 0; i < frames; i++) {
    frameWire.push(
      encodeFrame({
        payload: {
          $case: 'frame',
          frame: { frameId: i, pts: i, image: { $case: 'raw', raw: { width: 64, height: 32, rgb24 } } },
        },
      }),
    );
  }
  // MP4 (faststart): ffmpeg 4.1 drops the last frame of a raw H.264 (Annex B) stream, reported separately.
  const clip = fixtures.clips.find((c) => c.format === 'mov')!;
  const videoWire = [open(InputKind.INPUT_KIND_ENCODED_VIDEO, '')];
  for (let offset = 0; offset < clip.bytes.length; offset += 4096) {
    videoWire.push(
      encodeFrame({
        payload: { $case: 'videoChunk', videoChunk: { data: clip.bytes.subarray(offset, offset + 4096) } },
      }),
    );
  }
  const common = {
    seed: 0,
    index: -1,
    call: 'StreamFrames' as const,
    action: { kind: 'half-close' as const },
    deadlineMs: 30_000,
    invalid: [],
  };
  return [
    {
      ...common,
      category: 'good-frames',
      description: `${frames} raw 64x32 frames`,
      wire: frameWire,
      expectResults: frames,
    },
    {
      ...common,
      category: 'good-video',
      description: `${clip.name} in 4 KiB chunks`,
      wire: videoWire,
      expectResults: clip.frames,
    },
  ];
}

/** Runs the good streams once (so that the connection and lazily made resources exist) and measures. */
export async function takeBaseline(server: FuzzServer, fixtures: Fixtures): Promise<Baseline> {
  for (const good of goodCases(fixtures)) await runCase(server.client, good);
  const ffmpeg = await pollUntil(ffmpegChildren, (n) => n === 0, 10_000);
  return { fds: openFds(), ffmpeg };
}

/**
 * After the cases: health SERVING, every frame of a good frames stream and of a good encoded-video stream
 * answered, ffmpeg children and fds back to the baseline (polled, bounded), no stream left open.
 */
export async function checkServerAfter(
  server: FuzzServer,
  fixtures: Fixtures,
  baseline: Baseline,
  fdMargin = 8,
): Promise<AfterCheck> {
  const problems: string[] = [];
  const health = await healthCheck(server.address, '').catch((error: unknown) => `error: ${String(error)}`);
  if (health !== 'SERVING') problems.push(`health is ${health}, not SERVING`);
  const [framesCase, videoCase] = goodCases(fixtures) as [FuzzCase, FuzzCase];
  const frames = await runCase(server.client, framesCase);
  const video = await runCase(server.client, videoCase);
  for (const [name, outcome] of [
    ['good frames stream', frames],
    ['good encoded-video stream', video],
  ] as const) {
    if (outcome.code !== status.OK || outcome.results !== outcome.fuzzCase.expectResults) {
      problems.push(
        `${name}: ${statusName(outcome.code)} "${outcome.details}" with ${outcome.results} of ${outcome.fuzzCase.expectResults} results`,
      );
    }
  }
  const streamsOpen = await pollUntil(
    () => server.service.context.activeStreams,
    (n) => n === 0,
    10_000,
  );
  if (streamsOpen !== 0) problems.push(`${streamsOpen} streams still open`);
  const ffmpeg = await pollUntil(ffmpegChildren, (n) => n <= baseline.ffmpeg, 15_000);
  if (ffmpeg > baseline.ffmpeg) problems.push(`${ffmpeg} ffmpeg/ffprobe children, baseline ${baseline.ffmpeg}`);
  const fds = await pollUntil(openFds, (n) => n <= baseline.fds + fdMargin, 15_000);
  if (fds > baseline.fds + fdMargin) problems.push(`${fds} open fds, baseline ${baseline.fds} (+${fdMargin} allowed)`);
  const counters = await frameCounters(server.service);
  return {
    health,
    goodFrames: { code: frames.code, results: frames.results, expected: framesCase.expectResults ?? 0 },
    goodVideo: { code: video.code, results: video.results, expected: videoCase.expectResults ?? 0 },
    ffmpeg,
    fds,
    baseline,
    fdMargin,
    streamsOpen,
    counters,
    problems,
  };
}

export function describeAfter(after: AfterCheck): string {
  const c = after.counters;
  const balance = c.received === c.answered + c.failed ? 'holds' : 'DOES NOT hold';
  return [
    `after: health ${after.health}; good frames stream ${statusName(after.goodFrames.code)} ${after.goodFrames.results}/${after.goodFrames.expected}; ` +
      `good video stream ${statusName(after.goodVideo.code)} ${after.goodVideo.results}/${after.goodVideo.expected}`,
    `after: ffmpeg children ${after.ffmpeg} (baseline ${after.baseline.ffmpeg}); fds ${after.fds} (baseline ${after.baseline.fds}, margin ${after.fdMargin}); streams open ${after.streamsOpen}`,
    `after: frames received ${c.received}, answered ${c.answered}, failed ${c.failed} ${JSON.stringify(c.failedByReason)}: received = answered + failed ${balance}`,
  ].join('\n');
}
