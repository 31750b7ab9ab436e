import { parseArgs } from 'node:util';
import type { TrackingOptions } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { connect, connectionOptions, connectionUsage, helpOption, printCommandUsage } from './common.js';

export const infoUsage = `fusionseg info ${connectionUsage} [--json]
  Prints the model, its label space, the devices and the tracking defaults of a running server.`;

export async function infoCommand(argv: readonly string[], signal: AbortSignal): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { ...connectionOptions, ...helpOption, json: { type: 'boolean' } },
  });
  if (values.help === true) return printCommandUsage(infoUsage);
  const client = await connect(values);
  try {
    const info = await client.getModelInfo({ deadlineMs: 15_000, signal });
    if (values.json === true) {
      console.log(JSON.stringify(info, null, 2));
      return;
    }
    const lines = [
      `model       ${info.name} (${info.kind}), input ${info.inputWidth}x${info.inputHeight}`,
      `devices     ${info.devices.map((d) => `${d.name} [${d.executionProvider}, ${d.intraOpThreads} threads]`).join(', ')}`,
      `batching    maxBatch ${info.batching?.maxBatch}, maxDelay ${info.batching?.maxDelayMs} ms, maxQueue ${info.batching?.maxQueue}`,
      ...(info.defaultTracking === undefined ? [] : [trackingLine(info.defaultTracking)]),
      `labels      ${info.labelSpace?.name} (${info.labelSpace?.classes.length} classes)`,
      ...(info.labelSpace?.classes ?? []).map(
        (c) =>
          `  ${String(c.id).padStart(3)}  ${c.name.padEnd(14)} ${c.category.padEnd(13)} ${c.isThing ? 'thing' : 'stuff'}  rgb(${c.color?.r}, ${c.color?.g}, ${c.color?.b})`,
      ),
    ];
    console.log(lines.join('\n'));
  } finally {
    client.close();
  }
}

/** The server's tracking defaults (the IoU threshold is a float32 on the wire: three decimals). */
function trackingLine(defaults: TrackingOptions): string {
  const iou = defaults.iouThreshold === undefined ? '?' : String(Number(defaults.iouThreshold.toFixed(3)));
  return (
    `tracking    iou ${iou}, max age ${defaults.maxAge ?? '?'} frames ` +
    '(on for videos, off for frame streams unless asked)'
  );
}
