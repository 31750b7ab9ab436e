# fusionseg server image (CPU). Multi-stage: build (TypeScript, WebAssembly) -> runtime (Node, ffmpeg, dist/).
#
#   docker build -t fusionseg:cpu .
#   docker run -p 50051:50051 -p 9464:9464 fusionseg:cpu
#
# CUDA variant (one ONNX Runtime session per GPU; needs the NVIDIA container toolkit on the host):
#
#   docker build --target runtime-cuda --build-arg ORT_INSTALL=cuda12 -t fusionseg:cuda .
#   docker run --gpus 2 -p 50051:50051 fusionseg:cuda
ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

FROM ${NODE_IMAGE} AS build
# skip: CPU only; cuda12: onnxruntime-node downloads its CUDA execution provider (GPU images).
ARG ORT_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci && ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL} npm rebuild onnxruntime-node
COPY proto ./proto
COPY server ./server
COPY fusion-wasm ./fusion-wasm
COPY clients ./clients
COPY wire ./wire
COPY bench ./bench
COPY bin ./bin
COPY scripts ./scripts
COPY tsconfig.json tsconfig.build.json ./
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
# Debian's ffmpeg (every codec Debian ships) rather than a downloaded static build.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production FFMPEG_PATH=/usr/bin/ffmpeg FFPROBE_PATH=/usr/bin/ffprobe
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY models/default ./models/default
USER node
EXPOSE 50051 9464
# tini forwards SIGTERM to Node, which drains running streams before it exits.
ENTRYPOINT ["tini", "--", "node", "dist/server/src/main.js"]
CMD ["--address", "0.0.0.0:50051", "--metrics-port", "9464"]

FROM ${CUDA_IMAGE} AS runtime-cuda
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg tini \
  && rm -rf /var/lib/apt/lists/*
# Node from the Node image: one self-contained binary.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production FFMPEG_PATH=/usr/bin/ffmpeg FFPROBE_PATH=/usr/bin/ffprobe FUSIONSEG_DEVICES=cuda:0,cuda:1
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY models/default ./models/default
USER 1000
EXPOSE 50051 9464
ENTRYPOINT ["tini", "--", "node", "dist/server/src/main.js"]
CMD ["--address", "0.0.0.0:50051", "--metrics-port", "9464"]
