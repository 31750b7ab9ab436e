/**
 * The peer bound: the Python loop a user would write instead of deploying the server (bench/peers/
 * python_loop.py: ffmpeg decode, the same network and weights in PyTorch eager on the CPU, Panoptic FPN's
 * mask pasting and combination), run as a child process, one stream, frames one after another.
 *
 * `measurePeerLoop` returns its figures; a benchmark round can call it between the service's runs so that
 * both see the same machine state. It needs a Python with torch, torchvision and onnx
 * (`peerLoopAvailable` checks; the default interpreter is /usr/bin/python3, or FUSIONSEG_PEER_PYTHON).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ffmpegBinary } from '../../server/src/video/ffmpeg.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PEER_LOOP_SCRIPT = join(HERE, 'python_loop.py');
const ROOT = join(HERE, '..', '..');

export interface PeerLoopOptions {
  /** The video to decode (default: the demo clip). */
  readonly video?: string;
  /** Frames timed (after `warmup` untimed ones). */
  readonly frames: number;
  /** torch.set_num_threads (default 2: this machine's cores, as the service's). */
  readonly threads?: number;
  /** A model folder (model.json + model.onnx); default models/default. */
  readonly modelDir?: string;
  /** Frames run before timing starts (default 1). */
  readonly warmup?: number;
  /** 'served' (default): RoIAlign as ONNX Runtime runs the exported graph; 'trained': torchvision's aligned=False. */
  readonly roiAlign?: 'served' | 'trained';
  /** The Python interpreter (default FUSIONSEG_PEER_PYTHON or /usr/bin/python3). */
  readonly python?: string;
  /** The ffmpeg the loop decodes with (default: the one the server resolves, so that frames are the same bytes). */
  readonly ffmpeg?: string;
  /** Write each frame's semantic map, detections and panoptic ids to this folder (see python_loop.py). */
  readonly dumpDir?: string;
  readonly signal?: AbortSignal;
}

export interface PeerBound {
  /** Frames/s of the whole loop (decode, network, paste, combine), one frame after another. */
  readonly fps: number;
  readonly frames: number;
  readonly threads: number;
  /** Per-frame time from frame in hand to panoptic map (decode excluded). */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly mean: number };
  /** Each timed frame's milliseconds, in order. */
  readonly frameMs: number[];
  readonly detectionsPerFrame: number;
  readonly torch: string;
  readonly roiAlign: 'served' | 'trained';
  readonly width: number;
  readonly height: number;
}

export function peerPython(): string {
  return process.env['FUSIONSEG_PEER_PYTHON'] ?? '/usr/bin/python3';
}

/** Whether `python` can run the loop (torch, torchvision and onnx import). */
export async function peerLoopAvailable(python = peerPython()): Promise<boolean> {
  if (python.includes('/') && !existsSync(python)) return false;
  try {
    await promisify(execFile)(python, ['-c', 'import torch, torchvision, onnx'], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** Parses the loop's output: "frame i ms" lines and a final `{"summary": ...}` line. */
export function parsePeerOutput(stdout: string): PeerBound {
  const frameMs: number[] = [];
  let summary: Omit<PeerBound, 'frameMs'> | undefined;
  for (const line of stdout.split('\n')) {
    const frame = /^frame (\d+) ([\d.]+) ms$/.exec(line.trim());
    if (frame) frameMs.push(Number(frame[2]));
    else if (line.startsWith('{"summary"'))
      summary = (JSON.parse(line) as { summary: Omit<PeerBound, 'frameMs'> }).summary;
  }
  if (summary === undefined) throw new Error('the Python loop printed no summary line');
  return { ...summary, frameMs };
}

/** Runs the Python loop to the end and returns its figures. */
export function measurePeerLoop(options: PeerLoopOptions): Promise<PeerBound> {
  const args = [
    PEER_LOOP_SCRIPT,
    '--video',
    options.video ?? join(ROOT, 'models', 'demo', 'street.mp4'),
    '--frames',
    String(options.frames),
    '--threads',
    String(options.threads ?? 2),
    '--weights',
    options.modelDir ?? join(ROOT, 'models', 'default'),
    '--warmup',
    String(options.warmup ?? 1),
    '--roi-align',
    options.roiAlign ?? 'served',
    '--ffmpeg',
    options.ffmpeg ?? ffmpegBinary().path,
  ];
  if (options.dumpDir !== undefined) args.push('--dump', options.dumpDir);
  return new Promise((resolve, reject) => {
    const child = spawn(options.python ?? peerPython(), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // One process, the threads it is given: no hidden OpenMP/MKL pools beyond them.
      env: {
        ...process.env,
        OMP_NUM_THREADS: String(options.threads ?? 2),
        MKL_NUM_THREADS: String(options.threads ?? 2),
      },
      signal: options.signal,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8000)));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code !== 0) {
        reject(
          new Error(`the Python loop exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-5).join('\n')}`),
        );
        return;
      }
      try {
        resolve(parsePeerOutput(stdout));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}
