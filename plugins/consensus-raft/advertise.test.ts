import t from 'tap';
import { advertisedAddress } from './advertise.js';

const interfaces = {
  lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '', mac: '', cidr: null }],
  eth0: [{ address: '10.1.2.3', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null }],
} as const;
const base = { advertise: '', apiAdvertise: '', interfaces: interfaces as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]> };

t.equal(advertisedAddress({ ...base, advertise: 'node-2.svc:7000', bound: '0.0.0.0:7000' }), 'node-2.svc:7000', 'consensus.advertise_addr wins');
t.equal(advertisedAddress({ ...base, bound: '127.0.0.1:41234' }), '127.0.0.1:41234', 'a specific bind is what peers dial');
t.equal(advertisedAddress({ ...base, bound: '0.0.0.0:7000' }), '10.1.2.3:7000', 'a wildcard bind gives the first external IPv4');
t.equal(advertisedAddress({ ...base, bound: '[::]:7000' }), '10.1.2.3:7000');
t.equal(advertisedAddress({ ...base, apiAdvertise: 'http://ollama-node-1:11434', bound: '0.0.0.0:7000' }), 'ollama-node-1:7000', "or api.advertise's host");
t.equal(advertisedAddress({ ...base, interfaces: {}, bound: '0.0.0.0:7000' }), '127.0.0.1:7000', 'loopback when nothing else is there');
