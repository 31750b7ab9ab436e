/** The evaluation's table in the paper's form (method, backbone, mask AP, mIoU; plus AP50 and PQ), and details. */
import type { EvalLabels } from './labels.js';
import type { PassFigures } from './evaluate-split.js';

export interface EvaluatedModel {
  readonly name: string;
  readonly head: string;
  readonly backbone: string;
  readonly before: PassFigures;
  readonly after: PassFigures;
}

export interface EvalReport {
  readonly format: 'fusionseg-eval/1';
  readonly date: string;
  readonly data: string;
  readonly split: string;
  readonly images: number;
  readonly fusion: Record<string, unknown>;
  readonly newInstanceScore: number;
  readonly models: readonly EvaluatedModel[];
}

const pc = (value: number) => (Number.isNaN(value) ? '-' : (100 * value).toFixed(1));

function row(method: string, backbone: string, pass: PassFigures): string {
  const { ap, iou, pq } = pass;
  return `| ${method} | ${backbone} | ${pc(ap.ap)} | ${pc(ap.ap50)} | ${pc(iou.mean)} | ${pc(pq.all.pq)} | ${pc(pq.things.pq)} | ${pc(pq.stuff.pq)} |`;
}

export function tableRows(report: EvalReport): string[] {
  const lines = [
    '| method | backbone | mask AP | AP50 | mIoU | PQ | PQ things | PQ stuff |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const model of report.models) {
    lines.push(row(`${model.head} head (${model.name})`, model.backbone, model.before));
    lines.push(row(`${model.head} head + fusion`, model.backbone, model.after));
  }
  return lines;
}

export function renderMarkdown(report: EvalReport, labels: EvalLabels): string {
  const out: string[] = [];
  out.push(`# Evaluation on ${report.data} (${report.split}, ${report.images} images)`);
  out.push('');
  out.push(
    `${report.date.slice(0, 16).replace('T', ' ')} UTC. Before fusion: mIoU of the semantic head, mask AP of the detector's ` +
      'own masks (every detection, pasted and thresholded), PQ of the heuristic combination (Panoptic FPN rules). ' +
      `With fusion: all three from the fused output (fusion options ${JSON.stringify(report.fusion)}; new instances scored ${report.newInstanceScore}).`,
  );
  out.push('');
  out.push(...tableRows(report));
  out.push('');
  const names = labels.space.classes.map((c) => c.name);
  for (const model of report.models) {
    out.push(`## ${model.name}: per class`);
    out.push('');
    out.push('| class | IoU before | IoU with fusion | AP before | AP with fusion | PQ before | PQ with fusion |');
    out.push('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [id, name] of names.entries()) {
      const apBefore = model.before.ap.perClass.get(id);
      const apAfter = model.after.ap.perClass.get(id);
      const pqBefore = model.before.pq.perClass.get(id);
      const pqAfter = model.after.pq.perClass.get(id);
      out.push(
        `| ${name} | ${pc(model.before.iou.perClass[id]!)} | ${pc(model.after.iou.perClass[id]!)} | ` +
          `${apBefore ? pc(apBefore.ap) : ''} | ${apAfter ? pc(apAfter.ap) : ''} | ` +
          `${pqBefore ? pc(pqBefore.pq) : '-'} | ${pqAfter ? pc(pqAfter.pq) : '-'} |`,
      );
    }
    out.push('');
    out.push('| category | IoU before | IoU with fusion |');
    out.push('| --- | --- | --- |');
    for (const [k, category] of labels.space.categories.entries()) {
      out.push(`| ${category} | ${pc(model.before.iou.perCategory[k]!)} | ${pc(model.after.iou.perCategory[k]!)} |`);
    }
    out.push('');
    out.push(
      `Category mIoU: ${pc(model.before.iou.meanCategory)} before, ${pc(model.after.iou.meanCategory)} with fusion. ` +
        `SQ / RQ: ${pc(model.before.pq.all.sq)} / ${pc(model.before.pq.all.rq)} before, ${pc(model.after.pq.all.sq)} / ${pc(model.after.pq.all.rq)} with fusion.`,
    );
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

/** The report as JSON (Maps as objects keyed by class name). */
export function toJson(report: EvalReport, labels: EvalLabels): string {
  const nameOf = (id: number) => labels.space.classes[id]?.name ?? String(id);
  return JSON.stringify(
    report,
    (_key, value: unknown) =>
      value instanceof Map
        ? Object.fromEntries([...(value as Map<number, unknown>)].map(([id, v]) => [nameOf(id), v]))
        : typeof value === 'number' && Number.isNaN(value)
          ? null
          : value,
    2,
  );
}
