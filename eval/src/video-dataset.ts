/**
 * A split of video sequences in a Cityscapes-VPS-like layout:
 *   leftImg8bit_sequence/{split}/{seq}/{seq}_{frame}_leftImg8bit.png
 *   gtFine_sequence/{split}/{seq}/{seq}_{frame}_gtFine_labelIds.png      label ids
 *   gtFine_sequence/{split}/{seq}/{seq}_{frame}_gtFine_instanceIds.png   16-bit: label id * 1000 + n for things,
 *                                                                         else label id
 * where label id * 1000 + n is one thing's ground-truth track: the same in every frame of the sequence
 * (models/fusionseg_model/synthetic_video.py writes such sequences). Frames are listed up front; ground
 * truth is read one frame at a time.
 */
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readLabelAndInstanceIds } from './dataset.js';
import type { VideoPanopticFrame } from './metrics/video-frame.js';

export interface SequenceFrame {
  /** The frame number in the file names. */
  readonly index: number;
  readonly imagePath: string;
  readonly labelIdsPath: string;
  readonly instanceIdsPath: string;
}

export interface VideoSequence {
  readonly name: string;
  /** Sorted by frame number. */
  readonly frames: readonly SequenceFrame[];
}

const FRAME_FILE = /^(.+)_(\d+)_leftImg8bit\.png$/;

export async function listSequences(root: string, split: string): Promise<VideoSequence[]> {
  const imageRoot = join(root, 'leftImg8bit_sequence', split);
  try {
    await access(imageRoot);
  } catch {
    throw new Error(
      `--data: ${imageRoot} does not exist (expected the video layout leftImg8bit_sequence/${split}/SEQUENCE/)`,
    );
  }
  const sequences: VideoSequence[] = [];
  for (const name of (await readdir(imageRoot, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    const frames: SequenceFrame[] = [];
    for (const file of await readdir(join(imageRoot, name))) {
      const match = FRAME_FILE.exec(file);
      if (match === null) continue;
      const gt = join(root, 'gtFine_sequence', split, name, `${match[1]!}_${match[2]!}`);
      frames.push({
        index: Number(match[2]),
        imagePath: join(imageRoot, name, file),
        labelIdsPath: `${gt}_gtFine_labelIds.png`,
        instanceIdsPath: `${gt}_gtFine_instanceIds.png`,
      });
    }
    if (frames.length === 0) continue;
    frames.sort((a, b) => a.index - b.index);
    for (let i = 1; i < frames.length; i++) {
      if (frames[i]!.index === frames[i - 1]!.index) {
        throw new Error(
          `--data: ${frames[i - 1]!.imagePath} and ${frames[i]!.imagePath} are both frame ${frames[i]!.index}`,
        );
      }
    }
    sequences.push({ name, frames });
  }
  if (sequences.length === 0) {
    throw new Error(`--data: no sequences of *_{frame}_leftImg8bit.png images under ${imageRoot}`);
  }
  return sequences;
}

/**
 * One frame's ground truth: `semantic` holds train ids (`trainIdOf` maps label ids to them, 255 void),
 * `tracks` the instance id (label id * 1000 + n) on thing pixels, 0 elsewhere (stuff, void and crowd, whose
 * instance id is the bare label id).
 */
export async function readSequenceFrame(frame: SequenceFrame, trainIdOf: Uint8Array): Promise<VideoPanopticFrame> {
  const { labels, instances } = await readLabelAndInstanceIds(frame.labelIdsPath, frame.instanceIdsPath);
  if (labels.width !== instances.width || labels.height !== instances.height) {
    throw new Error(
      `${frame.instanceIdsPath}: instance ids are ${instances.width}x${instances.height}, ` +
        `label ids ${labels.width}x${labels.height}`,
    );
  }
  const semantic = new Uint8Array(labels.data.length);
  const tracks = new Uint32Array(labels.data.length);
  for (let p = 0; p < semantic.length; p++) {
    semantic[p] = trainIdOf[labels.data[p]! & 255]!;
    const id = instances.data[p]!;
    if (id >= 1000) tracks[p] = id;
  }
  return { width: labels.width, height: labels.height, semantic, tracks };
}
