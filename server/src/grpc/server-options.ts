import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * The largest message the server accepts or sends: room for a raw 4096x2160 RGB frame (26.5 MiB) plus
 * framing, bounded so that one client cannot make the server buffer arbitrary amounts.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

export interface ServerLimits {
  readonly maxMessageBytes?: number;
}

/** Channel options with explicit message size limits (grpc-js' default receive limit is 4 MiB). */
export function serverChannelOptions(limits: ServerLimits = {}): ChannelOptions {
  const maxMessageBytes = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1024) {
    throw new TypeError(`maxMessageBytes must be an integer >= 1024, got ${String(maxMessageBytes)}`);
  }
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    // Long-lived camera streams: notice dead peers without waiting for TCP timeouts.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
  };
}
