/**
 * Bearer-token authentication (`--auth-tokens-file`): a server interceptor that ends every call without
 * `authorization: Bearer <token>` naming a known token with UNAUTHENTICATED before any handler runs.
 * grpc.health.v1.Health is exempt, so that probes work; reflection and the segmentation service are not.
 * Tokens are compared as SHA-256 digests with `timingSafeEqual`, against every known token, so neither
 * the length nor the position of a mismatch shows in the time a check takes. Tokens never reach a log or
 * an error message.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Metadata, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';

/** The shortest token accepted: shorter ones are guessable. */
export const MIN_TOKEN_LENGTH = 16;

/** The metadata key tokens travel in. */
export const AUTHORIZATION_KEY = 'authorization';

/** The message of the UNAUTHENTICATED status (the same for a missing and a wrong token). */
export const UNAUTHENTICATED_DETAILS = 'missing or invalid bearer token';

/** Method paths that need no token: health checks, so that load balancers and kubelets can probe. */
const EXEMPT_PREFIXES = ['/grpc.health.v1.Health/'];

const OPTION = '--auth-tokens-file (FUSIONSEG_AUTH_TOKENS_FILE)';

/** Visible ASCII only: anything else cannot travel in an HTTP/2 header value unchanged. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Reads a tokens file: one token a line; blank lines and lines starting with `#` are ignored. An unreadable
 * or empty file, or a token shorter than 16 characters or with characters other than visible ASCII, is a
 * TypeError naming the option and the line (never the token).
 */
export async function loadAuthTokens(file: string): Promise<readonly string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error: unknown) {
    throw new TypeError(`${OPTION}: cannot read ${file}: ${(error as Error).message}`);
  }
  const tokens: string[] = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const token = line.trim();
    if (token === '' || token.startsWith('#')) continue;
    const problem = tokenProblem(token);
    if (problem !== undefined) throw new TypeError(`${OPTION}: ${file} line ${index + 1}: ${problem}`);
    tokens.push(token);
  }
  if (tokens.length === 0) {
    throw new TypeError(`${OPTION}: ${file} holds no token (one a line; blank lines and # comments are ignored)`);
  }
  return tokens;
}

function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `a token must be at least ${MIN_TOKEN_LENGTH} characters long`;
  if (!TOKEN_PATTERN.test(token)) return 'a token may hold only visible ASCII characters (no spaces)';
  return undefined;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Why a call was refused, for a log line (the token itself is never included). */
export interface AuthRejection {
  /** The full method path, e.g. `/fusionseg.v1.SegmentationService/StreamFrames`. */
  readonly method: string;
  readonly peer: string;
  readonly reason: 'missing' | 'malformed' | 'unknown token';
}

export interface BearerAuthOptions {
  /** Called for each refused call (e.g. to log it). */
  readonly onReject?: (rejection: AuthRejection) => void;
}

/**
 * A server interceptor that admits a call only with `authorization: Bearer <token>` for one of `tokens`
 * (validated as `loadAuthTokens` does). The header is removed before the handler sees the metadata.
 */
export function bearerAuthInterceptor(tokens: readonly string[], options: BearerAuthOptions = {}): ServerInterceptor {
  if (tokens.length === 0) throw new TypeError(`${OPTION}: no tokens given`);
  for (const token of tokens) {
    const problem = tokenProblem(token);
    if (problem !== undefined) throw new TypeError(`${OPTION}: ${problem}`);
  }
  const known = [...new Set(tokens)].map(digest);

  const check = (metadata: Metadata): AuthRejection['reason'] | undefined => {
    const values = metadata.get(AUTHORIZATION_KEY);
    if (values.length === 0) return 'missing';
    const match = values.length === 1 ? /^Bearer +(\S+) *$/i.exec(String(values[0])) : null;
    if (match === null) return 'malformed';
    const presented = digest(match[1]!);
    // Every known token is compared, whatever matched: the time taken does not depend on which one.
    let found = false;
    for (const candidate of known) found = timingSafeEqual(presented, candidate) || found;
    return found ? undefined : 'unknown token';
  };

  return (method, call) => {
    if (EXEMPT_PREFIXES.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, passOn) {
            const reason = check(metadata);
            if (reason === undefined) {
              metadata.remove(AUTHORIZATION_KEY);
              passOn(metadata);
              return;
            }
            // The metadata is not passed on, so the handler never starts and no message is read.
            options.onReject?.({ method: method.path, peer: call.getPeer(), reason });
            call.sendStatus({
              code: status.UNAUTHENTICATED,
              details: UNAUTHENTICATED_DETAILS,
              metadata: new Metadata(),
            });
          },
        });
      },
    });
  };
}
