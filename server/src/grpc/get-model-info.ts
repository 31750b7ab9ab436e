import type { handleUnaryCall } from '@grpc/grpc-js';
import {
  Consistency,
  type GetModelInfoRequest,
  type ModelInfo,
} from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { notFound } from '../errors.js';
import type { ServiceContext } from '../pipeline/service-context.js';
import { defaultFusion } from '../pipeline/stream-settings.js';
import { MalformedMessage } from './malformed-message.js';
import { toGrpcError } from './to-grpc-error.js';
import { isServedModel } from '../pipeline/stream-settings.js';
import { DEFAULT_TRACKING } from '../track/tracker.js';

/** GetModelInfo: the model, its label space with colours, the devices, batching, fusion and tracking defaults. */
export function getModelInfo(service: ServiceContext): handleUnaryCall<GetModelInfoRequest, ModelInfo> {
  return (call, callback) => {
    try {
      const request: unknown = call.request;
      if (request instanceof MalformedMessage) throw request.toError('the request');
      const { engine } = service;
      const { model } = engine;
      if (!isServedModel(call.request.model, model.name)) {
        throw notFound(`no model named "${call.request.model}" on this server (it serves "${model.name}")`);
      }
      const labelSpace = model.labelSpace.definition;
      const fusion = defaultFusion(model.input);
      callback(null, {
        name: model.name,
        kind: model.kind,
        inputWidth: model.input.width,
        inputHeight: model.input.height,
        labelSpace: {
          name: labelSpace.name,
          categories: [...labelSpace.categories],
          classes: labelSpace.classes.map((c) => ({
            id: c.id,
            name: c.name,
            category: c.category,
            isThing: c.isThing,
            color: { r: c.color[0], g: c.color[1], b: c.color[2] },
          })),
        },
        devices: engine.devices.map((device) => ({
          name: device.name,
          executionProvider: device.kind === 'cuda' ? 'CUDAExecutionProvider' : 'CPUExecutionProvider',
          intraOpThreads: device.intraOpThreads,
        })),
        batching: {
          maxBatch: engine.maxBatch,
          maxDelayMs: engine.batching.maxDelayMs,
          maxQueue: engine.batching.maxQueue,
        },
        defaultFusion: {
          disabled: false,
          scoreThreshold: fusion.scoreThreshold,
          maskThreshold: fusion.maskThreshold,
          consistency: Consistency.CONSISTENCY_CATEGORY,
          regionGrowing: fusion.regionGrowing,
          newInstances: fusion.newInstances,
          minNewInstanceArea: fusion.minNewInstanceArea,
        },
        defaultTracking: {
          iouThreshold: DEFAULT_TRACKING.iouThreshold,
          maxAge: DEFAULT_TRACKING.maxAge,
        },
      });
    } catch (error: unknown) {
      callback(toGrpcError(error, service.log));
    }
  };
}
