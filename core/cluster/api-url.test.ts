import type { NetworkInterfaceInfo } from 'node:os';
import t from 'tap';
import { announcedApiUrl } from './api-url.js';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal: boolean) => ({ address, family, internal }) as NetworkInterfaceInfo;
const HOST = { lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('fe80::1', 'IPv6', false), iface('10.0.0.7', 'IPv4', false)], wlan0: [iface('192.168.1.9', 'IPv4', false)] };

const cases: [string, Parameters<typeof announcedApiUrl>[0], ReturnType<typeof announcedApiUrl>][] = [
  ['api.advertise wins, without a trailing slash', { advertise: 'https://gpu-1.example:443/', listen: '0.0.0.0:11434', bound: 'http://0.0.0.0:11434', interfaces: HOST }, { url: 'https://gpu-1.example:443', source: 'api.advertise' }],
  ['a loopback listen with port 0 announces the bound port', { advertise: '', listen: '127.0.0.1:0', bound: 'http://127.0.0.1:40123', interfaces: HOST }, { url: 'http://127.0.0.1:40123', source: 'api.listen' }],
  ['a named host is kept', { advertise: '', listen: 'node-a.lan:11434', bound: 'http://10.0.0.7:11434', interfaces: HOST }, { url: 'http://node-a.lan:11434', source: 'api.listen' }],
  ['an IPv6 listen is bracketed', { advertise: '', listen: '[fd00::5]:8080', bound: 'http://[fd00::5]:8080', interfaces: HOST }, { url: 'http://[fd00::5]:8080', source: 'api.listen' }],
  ['0.0.0.0 becomes the first non-internal IPv4 by interface name', { advertise: '', listen: '0.0.0.0:11434', bound: 'http://0.0.0.0:11434', interfaces: HOST }, { url: 'http://10.0.0.7:11434', source: 'first non-internal IPv4' }],
  [':: does too, with TLS kept', { advertise: '', listen: '[::]:0', bound: 'https://[::]:5555', interfaces: HOST }, { url: 'https://10.0.0.7:5555', source: 'first non-internal IPv4' }],
  ['with no other address, loopback', { advertise: '', listen: '0.0.0.0:11434', bound: 'http://0.0.0.0:11434', interfaces: { lo: HOST.lo } }, { url: 'http://127.0.0.1:11434', source: 'loopback (no other address found)' }],
];

for (const [label, inputs, expected] of cases) {
  t.test(label, async (t) => t.same(announcedApiUrl(inputs), expected));
}
