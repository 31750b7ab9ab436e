/**
 * The Cityscapes label ids the data set's files use, mapped to the 19 train ids the network predicts.
 * Every label id outside the 19 train classes is void (ignored in evaluation), as in cityscapesScripts.
 */
import { cityscapesLabelSpace, type LabelSpace } from '../../fusion-wasm/src/index.js';

export const VOID = 255;

export interface EvalLabels {
  readonly space: LabelSpace;
  /** Label id (0..255) -> train id, VOID for ignored labels. */
  readonly trainIdOf: Uint8Array;
  /** Train id -> Cityscapes label id (for the official result formats). */
  readonly labelIdOf: readonly number[];
  readonly classCount: number;
  readonly thingIds: readonly number[];
  readonly stuffIds: readonly number[];
  readonly isThing: Uint8Array;
  /** Train id -> category index. */
  readonly categoryOf: readonly number[];
}

export function evalLabels(space: LabelSpace = cityscapesLabelSpace): EvalLabels {
  const trainIdOf = new Uint8Array(256).fill(VOID);
  const labelIdOf: number[] = [];
  const isThing = new Uint8Array(256);
  const categoryOf: number[] = [];
  for (const label of space.classes) {
    if (label.labelId === undefined) throw new TypeError(`class ${label.name} has no Cityscapes label id`);
    trainIdOf[label.labelId] = label.id;
    labelIdOf[label.id] = label.labelId;
    isThing[label.id] = label.isThing ? 1 : 0;
    categoryOf[label.id] = space.categories.indexOf(label.category);
  }
  return {
    space,
    trainIdOf,
    labelIdOf,
    classCount: space.classes.length,
    thingIds: space.classes.filter((c) => c.isThing).map((c) => c.id),
    stuffIds: space.classes.filter((c) => !c.isThing).map((c) => c.id),
    isThing,
    categoryOf,
  };
}
