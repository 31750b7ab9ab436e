import test from 'ava';
import { Status } from '../../server/src/errors.js';
import { MediaError } from '../../server/src/video/media-error.js';
import {
  forbiddenAddressReason,
  resolveAllowedHost,
  UrlHostAllowList,
  type HostLookup,
} from '../../server/src/video/url-guard.js';

test('loopback, private, link-local, CGNAT, multicast, unique-local and mapped forms are forbidden', (t) => {
  const forbidden = [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fc00::1',
    'fd12::1',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:8.8.8.8',
    '::ffff:7f00:1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::1',
    '::127.0.0.1',
  ];
  for (const address of forbidden) t.not(forbiddenAddressReason(address), undefined, address);
  for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111']) {
    t.is(forbiddenAddressReason(address), undefined, address);
  }
});

test('the allow list takes host names, addresses and CIDRs (mapped addresses match their IPv4)', (t) => {
  const allow = new UrlHostAllowList(['media.internal', '127.0.0.1', '10.0.0.0/8', '::1']);
  t.true(allow.allowsName('MEDIA.internal'));
  t.false(allow.allowsName('other.internal'));
  t.true(allow.allowsAddress('127.0.0.1'));
  t.true(allow.allowsAddress('::ffff:127.0.0.1'));
  t.false(allow.allowsAddress('127.0.0.2'));
  t.true(allow.allowsAddress('10.200.3.4'));
  t.true(allow.allowsAddress('::1'));
});

test('a name is refused when ANY of its addresses is forbidden; allowed names and CIDRs pass', async (t) => {
  const lookup: HostLookup = (host) =>
    Promise.resolve(
      host === 'mixed.example'
        ? [
            { address: '93.184.216.34', family: 4 },
            { address: '10.0.0.5', family: 4 },
          ]
        : [{ address: '93.184.216.34', family: 4 }],
    );
  const none = new UrlHostAllowList([]);
  const error = await t.throwsAsync(resolveAllowedHost('mixed.example', none, lookup), { instanceOf: MediaError });
  t.is(error.kind, 'forbidden-host');
  t.is(error.code, Status.PERMISSION_DENIED);
  t.regex(error.details, /"mixed.example" resolves to a private address/);
  const ok = await resolveAllowedHost('public.example', none, lookup);
  t.deepEqual(ok.addresses, [{ address: '93.184.216.34', family: 4 }]);
  t.is(
    (await resolveAllowedHost('mixed.example', new UrlHostAllowList(['mixed.example']), lookup)).addresses.length,
    2,
  );
  t.is((await resolveAllowedHost('mixed.example', new UrlHostAllowList(['10.0.0.0/24']), lookup)).addresses.length, 2);
  const literal = await t.throwsAsync(resolveAllowedHost('::1', none, lookup), { instanceOf: MediaError });
  t.is(literal.code, Status.PERMISSION_DENIED);
});

test('a name that does not resolve is UNAVAILABLE', async (t) => {
  const lookup: HostLookup = () => Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
  const error = await t.throwsAsync(resolveAllowedHost('nowhere.invalid', new UrlHostAllowList([]), lookup), {
    instanceOf: MediaError,
  });
  t.is(error.code, Status.UNAVAILABLE);
});
