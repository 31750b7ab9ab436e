/** Certificates for TLS and mutual-TLS tests, generated with `openssl` into a test's temporary folder. */
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './clips.js';

const execFileAsync = promisify(execFile);

export interface Certificates {
  readonly dir: string;
  /** CA that signs the server's and the good client's certificate. */
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by another CA. */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

/** A CA, a server certificate for 127.0.0.1 / localhost and client certificates from that CA and another. */
export async function makeCertificates(t: ExecutionContext): Promise<Certificates> {
  const dir = await tempDir(t);
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileAsync('openssl', args, { cwd: dir });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const makeCa = (name: string) =>
    openssl(
      'req',
      '-x509',
      ...key,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  const issue = async (name: string, ca: string, subject: string, extensions: string) => {
    await writeFile(path(`${name}.ext`), `${extensions}\n`);
    await openssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    await openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      String(Math.floor(Math.random() * 1e9)),
      '-days',
      '2',
      '-out',
      `${name}.crt`,
      '-extfile',
      `${name}.ext`,
    );
  };
  await Promise.all([makeCa('ca'), makeCa('other-ca')]);
  await Promise.all([
    issue('server', 'ca', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'),
    issue('client', 'ca', '/CN=camera-1', 'extendedKeyUsage=clientAuth'),
    issue('stranger', 'other-ca', '/CN=camera-1', 'extendedKeyUsage=clientAuth'),
  ]);
  return {
    dir,
    ca: path('ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    clientCert: path('client.crt'),
    clientKey: path('client.key'),
    strangerCert: path('stranger.crt'),
    strangerKey: path('stranger.key'),
  };
}
