/**
 * A split of a data set in the Cityscapes layout:
 *   leftImg8bit/{split}/{city}/{name}_leftImg8bit.png
 *   gtFine/{split}/{city}/{name}_gtFine_labelIds.png      label ids
 *   gtFine/{split}/{city}/{name}_gtFine_instanceIds.png   16-bit: label id * 1000 + n for things, else label id
 * Images are listed up front; ground truth is read one image at a time.
 */
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from 'fast-png';

export interface SplitImage {
  /** `{city}_{seq}_{frame}`, the key of every result format. */
  readonly name: string;
  readonly city: string;
  readonly imagePath: string;
  readonly labelIdsPath: string;
  readonly instanceIdsPath: string;
}

export interface GroundTruth {
  readonly width: number;
  readonly height: number;
  /** Train id per pixel (255 void). */
  readonly semantic: Uint8Array;
  /** Cityscapes instance ids per pixel. */
  readonly instanceIds: Uint16Array;
}

export async function listSplit(root: string, split: string): Promise<SplitImage[]> {
  const imageRoot = join(root, 'leftImg8bit', split);
  try {
    await access(imageRoot);
  } catch {
    throw new Error(`--data: ${imageRoot} does not exist (expected the Cityscapes layout leftImg8bit/${split}/CITY/)`);
  }
  const images: SplitImage[] = [];
  for (const city of (await readdir(imageRoot, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    for (const file of (await readdir(join(imageRoot, city))).sort()) {
      const match = /^(.+)_leftImg8bit\.png$/.exec(file);
      if (match === null) continue;
      const name = match[1]!;
      const gt = join(root, 'gtFine', split, city, name);
      images.push({
        name,
        city,
        imagePath: join(imageRoot, city, file),
        labelIdsPath: `${gt}_gtFine_labelIds.png`,
        instanceIdsPath: `${gt}_gtFine_instanceIds.png`,
      });
    }
  }
  if (images.length === 0) throw new Error(`--data: no *_leftImg8bit.png images under ${imageRoot}`);
  return images;
}

/** A one-channel PNG of ground truth (`what` names it in errors). */
export async function readGray(
  path: string,
  what: string,
): Promise<{ width: number; height: number; data: Uint8Array | Uint16Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new Error(`missing ground truth: ${path} (${what})`);
  }
  const png = decode(bytes);
  if (png.channels !== 1)
    throw new Error(`${path}: ${what} must be a one-channel PNG, it has ${png.channels} channels`);
  return { width: png.width, height: png.height, data: png.data as Uint8Array | Uint16Array };
}

type GrayImage = Awaited<ReturnType<typeof readGray>>;

/**
 * A frame's label ids and instance ids, read at once. When both fail, the label ids' error is the one
 * thrown, whichever failed first, so the message does not depend on timing.
 */
export async function readLabelAndInstanceIds(
  labelIdsPath: string,
  instanceIdsPath: string,
): Promise<{ labels: GrayImage; instances: GrayImage }> {
  const [labels, instances] = await Promise.allSettled([
    readGray(labelIdsPath, 'label ids'),
    readGray(instanceIdsPath, 'instance ids'),
  ]);
  if (labels.status === 'rejected') throw labels.reason;
  if (instances.status === 'rejected') throw instances.reason;
  return { labels: labels.value, instances: instances.value };
}

export async function readGroundTruth(image: SplitImage, trainIdOf: Uint8Array): Promise<GroundTruth> {
  const { labels, instances } = await readLabelAndInstanceIds(image.labelIdsPath, image.instanceIdsPath);
  if (labels.width !== instances.width || labels.height !== instances.height) {
    throw new Error(
      `${image.name}: label ids are ${labels.width}x${labels.height}, instance ids ${instances.width}x${instances.height}`,
    );
  }
  const semantic = new Uint8Array(labels.data.length);
  for (let p = 0; p < semantic.length; p++) semantic[p] = trainIdOf[labels.data[p]! & 255]!;
  const instanceIds = instances.data instanceof Uint16Array ? instances.data : Uint16Array.from(instances.data);
  return { width: labels.width, height: labels.height, semantic, instanceIds };
}
