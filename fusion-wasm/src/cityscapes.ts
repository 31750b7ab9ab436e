import type { LabelSpace } from './label-space.js';

/**
 * The 19 Cityscapes train classes (train ids 0..18), their categories, official colours and label ids.
 * Things: person, rider (human); car, truck, bus, train, motorcycle, bicycle (vehicle).
 */
export const cityscapesLabelSpace: LabelSpace = {
  name: 'cityscapes',
  categories: ['flat', 'construction', 'object', 'nature', 'sky', 'human', 'vehicle'],
  classes: [
    { id: 0, name: 'road', category: 'flat', isThing: false, color: [128, 64, 128], labelId: 7 },
    { id: 1, name: 'sidewalk', category: 'flat', isThing: false, color: [244, 35, 232], labelId: 8 },
    { id: 2, name: 'building', category: 'construction', isThing: false, color: [70, 70, 70], labelId: 11 },
    { id: 3, name: 'wall', category: 'construction', isThing: false, color: [102, 102, 156], labelId: 12 },
    { id: 4, name: 'fence', category: 'construction', isThing: false, color: [190, 153, 153], labelId: 13 },
    { id: 5, name: 'pole', category: 'object', isThing: false, color: [153, 153, 153], labelId: 17 },
    { id: 6, name: 'traffic light', category: 'object', isThing: false, color: [250, 170, 30], labelId: 19 },
    { id: 7, name: 'traffic sign', category: 'object', isThing: false, color: [220, 220, 0], labelId: 20 },
    { id: 8, name: 'vegetation', category: 'nature', isThing: false, color: [107, 142, 35], labelId: 21 },
    { id: 9, name: 'terrain', category: 'nature', isThing: false, color: [152, 251, 152], labelId: 22 },
    { id: 10, name: 'sky', category: 'sky', isThing: false, color: [70, 130, 180], labelId: 23 },
    { id: 11, name: 'person', category: 'human', isThing: true, color: [220, 20, 60], labelId: 24 },
    { id: 12, name: 'rider', category: 'human', isThing: true, color: [255, 0, 0], labelId: 25 },
    { id: 13, name: 'car', category: 'vehicle', isThing: true, color: [0, 0, 142], labelId: 26 },
    { id: 14, name: 'truck', category: 'vehicle', isThing: true, color: [0, 0, 70], labelId: 27 },
    { id: 15, name: 'bus', category: 'vehicle', isThing: true, color: [0, 60, 100], labelId: 28 },
    { id: 16, name: 'train', category: 'vehicle', isThing: true, color: [0, 80, 100], labelId: 31 },
    { id: 17, name: 'motorcycle', category: 'vehicle', isThing: true, color: [0, 0, 230], labelId: 32 },
    { id: 18, name: 'bicycle', category: 'vehicle', isThing: true, color: [119, 11, 32], labelId: 33 },
  ],
};
