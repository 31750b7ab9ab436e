/** URL schemes a video may be read from, each with the ffmpeg protocols (`-protocol_whitelist`) it needs. */

/**
 * ffmpeg protocols each URL scheme needs. (The server sends http and https through its pinning proxy:
 * `tcp` to reach it, `httpproxy` for the CONNECT tunnel that carries TLS; `crypto` for AES-128 HLS segments.)
 */
export const PROTOCOLS_BY_SCHEME: Readonly<Record<string, readonly string[]>> = {
  http: ['http', 'tcp', 'crypto'],
  https: ['https', 'tls', 'tcp', 'httpproxy', 'crypto'],
  rtsp: ['rtsp', 'rtp', 'udp', 'tcp'],
  rtmp: ['rtmp', 'tcp'],
  srt: ['srt', 'udp'],
  udp: ['udp'],
};

export const SUPPORTED_URL_SCHEMES: readonly string[] = Object.keys(PROTOCOLS_BY_SCHEME);

/** Whether `source` looks like a URL (`scheme://...`) rather than a path. */
export function isUrl(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source);
}

/** A URL with the ffmpeg protocols its scheme needs; throws a TypeError for an invalid URL or unsupported scheme. */
export function urlProtocols(source: string): { url: string; protocols: readonly string[] } {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new TypeError(`"${source}" is not a valid URL`);
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  const protocols = PROTOCOLS_BY_SCHEME[scheme];
  if (protocols === undefined) {
    throw new TypeError(`url scheme "${scheme}" is not supported (supported: ${SUPPORTED_URL_SCHEMES.join(', ')})`);
  }
  return { url: url.href, protocols };
}
