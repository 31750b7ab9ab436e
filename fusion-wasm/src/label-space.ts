/** A label space: the semantic classes a model predicts, their categories, and which are things. */
export interface LabelClass {
  /** The class id used in semantic maps (0..254; 255 is void). */
  readonly id: number;
  readonly name: string;
  /** The category's name; one of the label space's `categories`. */
  readonly category: string;
  /** Things are countable objects that get instances; the rest is stuff (background). */
  readonly isThing: boolean;
  readonly color: readonly [number, number, number];
  /** The dataset's own label id (Cityscapes labelIds), for exporting in its formats. */
  readonly labelId?: number;
}

export interface LabelSpace {
  readonly name: string;
  readonly categories: readonly string[];
  readonly classes: readonly LabelClass[];
}

/** Semantic id of void / unlabelled pixels. */
export const VOID_ID = 255;

/** Per-class lookup tables: the form both fusion implementations use. */
export interface LabelTables {
  /** 1 where the class id is a thing, 0 elsewhere (void and unknown ids included). */
  readonly isThing: Uint8Array;
  /** Category index per class id; 255 for void and unknown ids. */
  readonly category: Uint8Array;
  readonly classCount: number;
}

/** Checks a label space (TypeError naming the field) and builds its lookup tables. */
export function labelTables(space: LabelSpace): LabelTables {
  if (space.classes.length === 0 || space.classes.length > 255) {
    throw new TypeError(`labelSpace.classes must hold 1 to 255 classes, got ${space.classes.length}`);
  }
  const isThing = new Uint8Array(256);
  const category = new Uint8Array(256).fill(255);
  space.classes.forEach((c, index) => {
    if (c.id !== index) throw new TypeError(`labelSpace.classes[${index}].id must be ${index} (ids are dense, from 0)`);
    const categoryIndex = space.categories.indexOf(c.category);
    if (categoryIndex < 0) {
      throw new TypeError(`labelSpace.classes[${index}].category "${c.category}" is not one of labelSpace.categories`);
    }
    isThing[index] = c.isThing ? 1 : 0;
    category[index] = categoryIndex;
  });
  return { isThing, category, classCount: space.classes.length };
}
