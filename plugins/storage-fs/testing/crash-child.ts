// A process that does the crash scenario's work on a store with faults injected, for the crash
// tests to kill at one step: `node crash-child.js <model dir> <step>`; step 0 runs to the end.

import { silentLogger } from '../../../core/log.js';
import { FsModelStore } from '../store.js';
import { doTheWork } from './crash-scenario.js';
import { injectFsFaults } from './fs-faults.js';

const [root, crashAt] = process.argv.slice(2);
if (!root || !crashAt) throw new Error('usage: crash-child <model dir> <step>');
const faults = await injectFsFaults(root, Number(crashAt));
await doTheWork(new FsModelStore(root, silentLogger()));
process.stdout.write(JSON.stringify(faults.steps));
