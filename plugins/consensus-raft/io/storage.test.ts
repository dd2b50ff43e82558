// The consensus storage gives back after a reopen exactly what was saved, cuts off a record torn
// by a crash, reports damage in the middle by file, and compaction leaves only what is needed.

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Entry, Snapshot } from '../core/types.js';
import { RaftStorage, segmentName, snapshotName, StorageCorruptError, tmpName } from './storage.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'raft-storage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const entry = (index: number, term = 1, text = `cmd-${index}`): Entry => ({ index, term, type: 'normal', data: Buffer.from(text) });
const entries = (from: number, to: number, term = 1) => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const snapshotAt = (index: number, term = 1, size = 100): Snapshot => ({
  meta: { index, term, conf: { members: [{ id: 'n1', address: '127.0.0.1:7001', voter: true }] } },
  data: Uint8Array.from({ length: size }, (_, i) => i % 251),
});
/** Plain Uint8Array data, as the codec returns it, so strictSame compares content. */
const plain = (list: Entry[]) => list.map((e) => ({ ...e, data: Uint8Array.from(e.data) }));

async function reopen(t: Test, dir: string, segmentBytes?: number): Promise<RaftStorage> {
  const storage = await RaftStorage.open(dir, segmentBytes ? { segmentBytes } : {});
  t.teardown(() => storage.close());
  return storage;
}

t.test('a reopen gives back exactly the saved hard state, entries, snapshot and meta', async (t) => {
  const dir = tempDir(t);
  const first = await RaftStorage.open(dir);
  t.strictSame(first.load(), { entries: [] }, 'an empty directory holds nothing');
  await first.save({ entries: entries(1, 3), hardState: { term: 1, vote: 'n1', commit: 0 } });
  await first.save({ entries: [entry(4, 2)], hardState: { term: 2, vote: null, commit: 3 } });
  await first.setMeta({ clusterId: 'c-1', nodeId: 'n1' });
  await first.close();
  const second = await reopen(t, dir);
  t.strictSame(second.load(), { entries: plain([...entries(1, 3), entry(4, 2)]), hardState: { term: 2, vote: null, commit: 3 }, meta: { clusterId: 'c-1', nodeId: 'n1' } });
});

t.test('concurrent saves are written in order, sharing fsyncs', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await Promise.all(Array.from({ length: 50 }, (_, i) => storage.save({ entries: [entry(i + 1)], hardState: { term: 1, vote: null, commit: i } })));
  await storage.close();
  const back = (await reopen(t, dir)).load();
  t.strictSame(back.entries, plain(entries(1, 50)));
  t.strictSame(back.hardState, { term: 1, vote: null, commit: 49 }, 'the last hard state wins');
});

t.test('a save that only moves the commit index is written without an fsync; entries, terms and votes are fsynced', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await storage.save({ entries: [], hardState: { term: 1, vote: 'n1', commit: 0 } });
  // Every FileHandle shares one prototype: count the fsyncs of the log's handle through it.
  const probe = await open(join(dir, 'probe'), 'w');
  const prototype = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
  await probe.close();
  const datasync = prototype.datasync;
  let syncs = 0;
  prototype.datasync = function (this: unknown) {
    syncs++;
    return datasync.call(this);
  };
  t.teardown(() => void (prototype.datasync = datasync));
  const counted = async (save: Promise<void>) => {
    const before = syncs;
    await save;
    return syncs - before;
  };
  t.equal(await counted(storage.save({ entries: [entry(1)], hardState: { term: 1, vote: 'n1', commit: 0 } })), 1, 'an entry is fsynced');
  t.equal(await counted(storage.save({ entries: [], hardState: { term: 1, vote: 'n1', commit: 1 } })), 0, 'a commit index alone is not');
  t.equal(await counted(storage.save({ entries: [], hardState: { term: 2, vote: null, commit: 1 } })), 1, 'a new term is');
  t.equal(await counted(storage.save({ entries: [], hardState: { term: 2, vote: 'n2', commit: 1 } })), 1, 'a vote is');
  t.equal(await counted(storage.save({ entries: [], hardState: { term: 2, vote: 'n2', commit: 1 } })), 0, 'the same hard state again is not');
  await storage.close();
  t.strictSame((await reopen(t, dir)).load().hardState, { term: 2, vote: 'n2', commit: 1 }, 'and the unsynced writes are in the file all the same');
});

t.test('an entry at an index the log has replaces the tail from there', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await storage.save({ entries: entries(1, 5) });
  await storage.save({ entries: [entry(3, 2, 'new-3'), entry(4, 2, 'new-4')] });
  await t.rejects(storage.save({ entries: [entry(6)] }), /entry at index 6 does not continue the log, which ends at 4/);
  await storage.close();
  const back = (await reopen(t, dir)).load();
  t.strictSame(back.entries, plain([entry(1), entry(2), entry(3, 2, 'new-3'), entry(4, 2, 'new-4')]));
});

t.test('a record cut at any byte by a crash is cut off; the log goes on from the last whole record', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await storage.save({ entries: entries(1, 2), hardState: { term: 1, vote: 'n1', commit: 1 } });
  const file = join(dir, segmentName(1));
  const before = statSync(file).size;
  const last = entry(3, 1, 'the last one, a little longer');
  await storage.save({ entries: [last], hardState: { term: 1, vote: 'n1', commit: 2 } });
  await storage.close();
  const whole = readFileSync(file);
  const lastRecordBytes = whole.length - before;
  const wrong: string[] = [];
  let cuts = 0;
  for (let cut = before; cut < whole.length; cut++) {
    writeFileSync(file, whole.subarray(0, cut));
    const reopened = await RaftStorage.open(dir);
    const back = reopened.load();
    const keptLast = back.entries.length === 3;
    const expected = keptLast ? 3 : 2;
    if (JSON.stringify(back.entries) !== JSON.stringify(plain([...entries(1, 2), last]).slice(0, expected)) || back.hardState?.commit !== expected - 1) wrong.push(`cut at ${cut}: not the last whole record`);
    if (keptLast && cut < whole.length - 7) wrong.push(`cut at ${cut} kept a record it cut into`);
    await reopened.save({ entries: [entry(expected + 1, 2)] });
    await reopened.close();
    const again = await RaftStorage.open(dir);
    if (again.load().entries.at(-1)?.term !== 2 || again.load().entries.length !== expected + 1) wrong.push(`cut at ${cut}: an append after the cut does not read back`);
    await again.close();
    cuts++;
  }
  t.strictSame(wrong, [], 'every cut recovers to the last whole record and appends go on from it');
  t.equal(cuts, lastRecordBytes);
  writeFileSync(file, Buffer.concat([whole, Buffer.alloc(4096)]));
  const zeros = await reopen(t, dir);
  t.equal(zeros.load().entries.length, 3, 'zeros after the last record (a file extended by the crash) are cut off too');
});

t.test('a flipped byte in the middle of the log is an error naming the file', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await storage.save({ entries: entries(1, 2) });
  const file = join(dir, segmentName(1));
  const firstRecord = statSync(file).size;
  await storage.save({ entries: entries(3, 4) });
  await storage.close();
  const whole = readFileSync(file);
  const firstBody = 16 + whole.readUInt32BE(4);
  const missed: number[] = [];
  for (let at = 0; at < firstBody; at++) {
    const damaged = Buffer.from(whole);
    damaged[at]! ^= 0x10;
    writeFileSync(file, damaged);
    const error = await RaftStorage.open(dir).then(
      async (storage) => {
        await storage.close();
        return undefined;
      },
      (error: Error) => error,
    );
    if (!(error instanceof StorageCorruptError) || error.file !== file || !error.message.includes(`${file}: the record at byte 0 is damaged`)) missed.push(at);
  }
  t.strictSame(missed, [], `a flip at any of the first record's ${firstBody} bytes is reported, naming the file`);
  t.ok(firstRecord > firstBody, 'padding follows the first record');
});

t.test('damage at the end of a closed segment is an error, not a torn tail', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir, { segmentBytes: 100 });
  for (let i = 1; i <= 6; i++) await storage.save({ entries: [entry(i, 1, 'x'.repeat(60))] });
  await storage.close();
  const segments = readdirSync(dir).filter((name) => name.endsWith('.wal')).sort();
  t.ok(segments.length >= 3, `${segments.length} segments`);
  const closed = join(dir, segments[0]!);
  truncateSync(closed, statSync(closed).size - 3);
  await t.rejects(RaftStorage.open(dir), StorageCorruptError);
});

t.test('compaction keeps the log after the snapshot and deletes older snapshots and whole segments', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir, { segmentBytes: 200 });
  await storage.save({ entries: [], hardState: { term: 1, vote: 'n1', commit: 0 } });
  for (let i = 1; i <= 20; i++) await storage.save({ entries: [entry(i, 1, 'y'.repeat(50))] });
  const segmentsBefore = readdirSync(dir).filter((name) => name.endsWith('.wal')).length;
  await storage.compact(snapshotAt(5));
  await storage.compact(snapshotAt(15));
  await t.rejects(storage.compact(snapshotAt(21)), /the log ends at 20/);
  await storage.close();
  const names = readdirSync(dir);
  t.strictSame(names.filter((name) => name.endsWith('.snap')), [snapshotName(15, 1)], 'only the newest snapshot is left');
  const segmentsAfter = names.filter((name) => name.endsWith('.wal')).length;
  t.ok(segmentsAfter < segmentsBefore, `segments ${segmentsBefore} -> ${segmentsAfter}`);
  const back = (await reopen(t, dir, 200)).load();
  t.strictSame(back.snapshot, snapshotAt(15));
  t.strictSame(back.entries.map((e) => e.index), [16, 17, 18, 19, 20]);
  t.strictSame(back.hardState, { term: 1, vote: 'n1', commit: 0 }, 'the hard state, saved once, survives its segment being deleted');
});

t.test('a snapshot from the leader replaces the whole log', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await storage.save({ entries: entries(1, 10) });
  await storage.save({ snapshot: snapshotAt(50, 3), entries: [entry(51, 3)], hardState: { term: 3, vote: null, commit: 50 } });
  await storage.close();
  const back = (await reopen(t, dir)).load();
  t.equal(back.snapshot?.meta.index, 50);
  t.strictSame(back.entries.map((e) => e.index), [51]);
});

t.test('a crash between the snapshot temp file and its rename leaves the old snapshot in use', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await storage.save({ entries: entries(1, 10) });
  await storage.compact(snapshotAt(4));
  await storage.close();
  const half = readFileSync(join(dir, snapshotName(4, 1))).subarray(0, 30);
  writeFileSync(join(dir, tmpName(snapshotName(8, 1))), half);
  const back = await reopen(t, dir);
  t.strictSame(back.load().snapshot, snapshotAt(4));
  t.strictSame(back.load().entries.map((e) => e.index), [5, 6, 7, 8, 9, 10]);
  t.notOk(readdirSync(dir).some((name) => name.endsWith('.tmp')), 'the temp file is removed on open');
});

t.test('a damaged snapshot file is an error naming it', async (t) => {
  const dir = tempDir(t);
  const storage = await RaftStorage.open(dir);
  await storage.save({ entries: entries(1, 3) });
  await storage.compact(snapshotAt(2));
  await storage.close();
  const file = join(dir, snapshotName(2, 1));
  const bytes = readFileSync(file);
  bytes[bytes.length - 1]! ^= 1;
  writeFileSync(file, bytes);
  await t.rejects(RaftStorage.open(dir), { name: 'StorageCorruptError', message: new RegExp(`${file}: fails its checksum`) });
});

t.test('save latency with fsync for one small entry', async (t) => {
  const dir = tempDir(t);
  const storage = await reopen(t, dir);
  const rounds = 50;
  const started = process.hrtime.bigint();
  for (let i = 1; i <= rounds; i++) await storage.save({ entries: [entry(i)], hardState: { term: 1, vote: 'n1', commit: i - 1 } });
  const serialMs = Number(process.hrtime.bigint() - started) / 1e6 / rounds;
  const groupStart = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 500 }, (_, i) => storage.save({ entries: [entry(rounds + i + 1)] })));
  const groupedMs = Number(process.hrtime.bigint() - groupStart) / 1e6;
  t.comment(`one small entry + hard state per save: ${serialMs.toFixed(2)} ms; 500 concurrent saves: ${groupedMs.toFixed(1)} ms in all`);
  t.pass('measured');
});
