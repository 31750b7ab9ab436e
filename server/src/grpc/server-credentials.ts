/**
 * The server's transport credentials from `--tls-cert`, `--tls-key` and `--tls-client-ca`: plaintext when
 * no certificate is given, server-only TLS with one, mutual TLS (client certificates required and verified
 * against the CA) with a client CA as well. The files are read and checked here, at start-up, so that a
 * wrong path, a malformed PEM or a key that does not match the certificate stops the server with a message
 * naming the option instead of failing every handshake later.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';

export interface TlsFiles {
  /** PEM certificate chain of the server. */
  readonly tlsCert?: string | undefined;
  /** PEM private key of the server. */
  readonly tlsKey?: string | undefined;
  /** PEM CA bundle: client certificates are then required and verified against it. */
  readonly tlsClientCa?: string | undefined;
}

const NAMES = {
  tlsCert: '--tls-cert (FUSIONSEG_TLS_CERT)',
  tlsKey: '--tls-key (FUSIONSEG_TLS_KEY)',
  tlsClientCa: '--tls-client-ca (FUSIONSEG_TLS_CLIENT_CA)',
} as const;

async function read(key: keyof typeof NAMES, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error: unknown) {
    throw new TypeError(`${NAMES[key]}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Throws a TypeError naming `key` when `check` fails (OpenSSL's reason appended). */
function checked(key: keyof typeof NAMES, path: string, check: () => unknown): void {
  try {
    check();
  } catch (error: unknown) {
    throw new TypeError(`${NAMES[key]}: ${path} is not usable: ${(error as Error).message}`);
  }
}

export async function serverCredentials(config: TlsFiles): Promise<ServerCredentials> {
  const { tlsCert, tlsKey, tlsClientCa } = config;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new TypeError(`${NAMES.tlsCert} and ${NAMES.tlsKey} go together`);
  }
  if (tlsCert === undefined || tlsKey === undefined) {
    if (tlsClientCa !== undefined) {
      throw new TypeError(`${NAMES.tlsClientCa} needs ${NAMES.tlsCert} and ${NAMES.tlsKey} (mutual TLS is TLS first)`);
    }
    return ServerCredentials.createInsecure();
  }
  // One after another, so that with several unreadable files the error always names the first.
  const cert = await read('tlsCert', tlsCert);
  const key = await read('tlsKey', tlsKey);
  const clientCa = tlsClientCa === undefined ? undefined : await read('tlsClientCa', tlsClientCa);
  checked('tlsCert', tlsCert, () => createSecureContext({ cert }));
  checked('tlsKey', tlsKey, () => createSecureContext({ cert, key }));
  if (clientCa !== undefined && tlsClientCa !== undefined) {
    checked('tlsClientCa', tlsClientCa, () => {
      if (!clientCa.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate');
      createSecureContext({ ca: clientCa });
    });
  }
  // With a client CA, checkClientCertificate: a client without a certificate signed by it fails the handshake.
  return ServerCredentials.createSsl(
    clientCa ?? null,
    [{ cert_chain: cert, private_key: key }],
    clientCa !== undefined,
  );
}
