/**
 * The video data set reader on sequences written by models/fusionseg_model/synthetic_video.py (Debian's
 * /usr/bin/python3 with numpy and PIL): frames in order, tracks that persist from frame to frame, and thing
 * pixels, and only those, carrying tracks.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { evalLabels, VOID } from '../../eval/src/labels.js';
import { listSequences, readSequenceFrame } from '../../eval/src/video-dataset.js';
import { tempDir } from '../helpers/clips.js';

const execFileAsync = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const W = 256;
const H = 128;
const FRAMES = 4;

interface SequencesJson {
  fps: number;
  sequences: { name: string; frames: number; objects: number; tracks: { id: number; visibleFrames: number }[] }[];
}

async function generate(out: string): Promise<SequencesJson> {
  await execFileAsync(
    PYTHON,
    [
      '-m',
      'models.fusionseg_model.synthetic_video',
      '--out',
      out,
      '--split',
      'val',
      '--sequences',
      '2',
      '--frames',
      String(FRAMES),
      '--width',
      String(W),
      '--height',
      String(H),
      '--seed',
      '5',
    ],
    { cwd: ROOT, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
  );
  return JSON.parse(await readFile(join(out, 'gtFine_sequence/val/sequences.json'), 'utf8')) as SequencesJson;
}

test('reads generated sequences back: frames in order, persistent tracks, tracks exactly on thing pixels', async (t) => {
  t.timeout(60_000);
  const root = await tempDir(t);
  const summary = await generate(root);
  const labels = evalLabels();
  const sequences = await listSequences(root, 'val');
  t.deepEqual(
    sequences.map((s) => s.name),
    ['street000', 'street001'],
  );
  for (const sequence of sequences) {
    const expected = summary.sequences.find((s) => s.name === sequence.name)!;
    t.deepEqual(
      sequence.frames.map((f) => f.index),
      [0, 1, 2, 3],
    );
    t.true(
      sequence.frames[2]!.imagePath.endsWith(
        `leftImg8bit_sequence/val/${sequence.name}/${sequence.name}_000002_leftImg8bit.png`,
      ),
    );
    t.true(
      sequence.frames[2]!.instanceIdsPath.endsWith(
        `gtFine_sequence/val/${sequence.name}/${sequence.name}_000002_gtFine_instanceIds.png`,
      ),
    );
    const framesOfTrack = new Map<number, number>();
    const boxes: Map<number, [number, number]>[] = []; // per frame: track -> its columns' range
    for (const frame of sequence.frames) {
      const gt = await readSequenceFrame(frame, labels.trainIdOf);
      t.is(gt.width, W);
      t.is(gt.height, H);
      t.is(gt.semantic.length, W * H);
      t.is(gt.tracks.length, W * H);
      const box = new Map<number, [number, number]>();
      let untrackedThings = 0;
      let trackedStuff = 0;
      for (let p = 0; p < gt.tracks.length; p++) {
        const track = gt.tracks[p]!;
        const cls = gt.semantic[p]!;
        const thing = cls !== VOID && labels.isThing[cls] === 1;
        if (track === 0) {
          if (thing) untrackedThings++; // the generator draws no crowd regions
          continue;
        }
        if (!thing || labels.trainIdOf[Math.floor(track / 1000)] !== cls) trackedStuff++;
        const x = p % W;
        const range = box.get(track);
        box.set(track, range === undefined ? [x, x] : [Math.min(range[0], x), Math.max(range[1], x)]);
      }
      t.is(untrackedThings, 0, `${frame.imagePath}: thing pixels without a track`);
      t.is(trackedStuff, 0, `${frame.imagePath}: tracks on stuff or on a thing of another class`);
      for (const track of box.keys()) framesOfTrack.set(track, (framesOfTrack.get(track) ?? 0) + 1);
      boxes.push(box);
    }
    // Ids persist: things seen in every frame under one id, as sequences.json says, some of them moving.
    t.deepEqual(
      [...framesOfTrack].sort((a, b) => a[0] - b[0]),
      expected.tracks.map((track) => [track.id, track.visibleFrames] as [number, number]).sort((a, b) => a[0] - b[0]),
    );
    const throughout = [...framesOfTrack].filter(([, n]) => n === FRAMES).map(([track]) => track);
    t.true(throughout.length > 0);
    t.true(throughout.some((track) => boxes[0]!.get(track)!.join() !== boxes[FRAMES - 1]!.get(track)!.join()));
    t.is(framesOfTrack.size, expected.objects);
  }
});

test('missing layouts and files are named in the errors', async (t) => {
  const root = await tempDir(t);
  await t.throwsAsync(listSequences(root, 'val'), {
    message: `--data: ${join(root, 'leftImg8bit_sequence', 'val')} does not exist (expected the video layout leftImg8bit_sequence/val/SEQUENCE/)`,
  });
  const dir = join(root, 'leftImg8bit_sequence', 'val', 'seq');
  await mkdir(dir, { recursive: true });
  await t.throwsAsync(listSequences(root, 'val'), { message: /no sequences .* under .*leftImg8bit_sequence\/val/ });
  await writeFile(join(dir, 'seq_000010_leftImg8bit.png'), '');
  await writeFile(join(dir, 'seq_000002_leftImg8bit.png'), '');
  await writeFile(join(dir, 'seq_2_leftImg8bit.png'), '');
  await t.throwsAsync(listSequences(root, 'val'), { message: /seq_00000?2_leftImg8bit\.png and .* are both frame 2/ });
  await rm(join(dir, 'seq_2_leftImg8bit.png'));
  const [sequence] = await listSequences(root, 'val');
  t.deepEqual(
    sequence!.frames.map((f) => f.index),
    [2, 10],
  );
  const missing = join(root, 'gtFine_sequence', 'val', 'seq', 'seq_000002_gtFine_labelIds.png');
  await t.throwsAsync(readSequenceFrame(sequence!.frames[0]!, evalLabels().trainIdOf), {
    message: `missing ground truth: ${missing} (label ids)`,
  });
});
