import t from 'tap';
import { planPlacements, type PlanInput, type PlannerModel, type PlannerNode } from './planner.js';

const GiB = 2 ** 30;
const node = (id: string, extra: Partial<PlannerNode> = {}): PlannerNode => ({ id, drained: false, ...extra });
const model = (name: string, replicas: number, extra: Partial<PlannerModel> = {}): PlannerModel => ({ name, size: GiB, vram: 0, replicas, ...extra });
const three = [node('a'), node('b'), node('c')];

interface Case {
  name: string;
  input: Partial<PlanInput> & Pick<PlanInput, 'models'>;
  want: Record<string, string[]>;
}

const cases: Case[] = [
  {
    name: 'one replica stays on the node that holds the copy',
    input: { models: [model('m', 1)], present: { m: ['b'] } },
    want: { m: ['b'] },
  },
  {
    name: 'spread: each model on the node with the fewest, ties by id, larger models first',
    input: { models: [model('small', 1), model('large', 1, { size: 2 * GiB })] },
    want: { large: ['a'], small: ['b'] },
  },
  {
    name: 'pack: the node with the most models that still fits',
    input: { models: [model('small', 1), model('large', 1, { size: 2 * GiB })], policy: 'pack' },
    want: { large: ['a'], small: ['a'] },
  },
  {
    name: 'pack moves on when the fullest node runs out of disk',
    input: { nodes: [node('a', { diskFree: 2.5 * GiB }), node('b'), node('c')], models: [model('small', 1), model('large', 1, { size: 2 * GiB })], policy: 'pack' },
    want: { large: ['a'], small: ['b'] },
  },
  {
    name: 'a node down for a moment keeps its placement and takes no new one',
    input: { nodes: [node('a', { down: true }), node('b'), node('c')], models: [model('m', 1), model('n', 2)], placements: { m: ['a'] }, present: { m: ['a'] } },
    want: { m: ['a'], n: ['b', 'c'] },
  },
  {
    name: "a drained node's replica moves to the undrained node left",
    input: { nodes: [node('a'), node('b', { drained: true }), node('c')], models: [model('m', 2)], placements: { m: ['a', 'b'] }, present: { m: ['a', 'b'] } },
    want: { m: ['a', 'c'] },
  },
  {
    name: 'a drained node is never chosen, even holding a copy',
    input: { nodes: [node('a', { drained: true }), node('b'), node('c')], models: [model('m', 1)], present: { m: ['a'] } },
    want: { m: ['b'] },
  },
  {
    name: 'only a node whose disk fits the model',
    input: { nodes: [node('a', { diskFree: GiB }), node('b', { diskFree: 100 * GiB }), node('c', { diskFree: 40 * GiB })], models: [model('m', 1, { size: 50 * GiB })] },
    want: { m: ['b'] },
  },
  {
    name: 'a node holding the copy needs no disk for it',
    input: { nodes: [node('a', { diskFree: 0 }), node('b')], models: [model('m', 1)], present: { m: ['a'] } },
    want: { m: ['a'] },
  },
  {
    name: 'every node short of disk: the model stays unplaced',
    input: { nodes: [node('a', { diskFree: GiB }), node('b', { diskFree: GiB })], models: [model('m', 1, { size: 2 * GiB })] },
    want: { m: [] },
  },
  {
    name: 'GPUs without the VRAM are passed over; a node without GPUs runs from system memory',
    input: { nodes: [node('a', { vramFree: 4 * GiB }), node('b', { vramFree: 16 * GiB }), node('c')], models: [model('m', 2, { vram: 8 * GiB })] },
    want: { m: ['b', 'c'] },
  },
  {
    name: 'VRAM a placement takes is not offered to the next model',
    input: { nodes: [node('a', { vramFree: 10 * GiB }), node('b', { vramFree: 10 * GiB })], models: [model('x', 1, { vram: 8 * GiB }), model('y', 1, { vram: 8 * GiB })], policy: 'pack' },
    want: { x: ['a'], y: ['b'] },
  },
  {
    name: 'more replicas than nodes: one on each live node',
    input: { models: [model('m', 5)] },
    want: { m: ['a', 'b', 'c'] },
  },
  {
    name: "a deleted model's placements go, and its node counts as empty again",
    input: { models: [model('n', 1)], placements: { gone: ['a'] } },
    want: { n: ['a'] },
  },
  {
    name: 'a valid placement stays although another node is emptier (no needless copy)',
    input: { models: [model('m', 1), model('o', 1)], placements: { m: ['c'], o: ['c'] } },
    want: { m: ['c'], o: ['c'] },
  },
  {
    name: 'fewer replicas wanted: the nodes holding copies stay',
    input: { models: [model('m', 1)], placements: { m: ['a', 'b', 'c'] }, present: { m: ['c'] } },
    want: { m: ['c'] },
  },
  {
    name: 'a node gone from the live members loses its placement',
    input: { models: [model('m', 1)], placements: { m: ['d'] } },
    want: { m: ['a'] },
  },
  {
    name: 'a copy on its way keeps its disk space taken',
    input: { nodes: [node('a', { diskFree: 1.5 * GiB }), node('b', { diskFree: 10 * GiB })], models: [model('m', 1), model('n', 1)], placements: { m: ['a'] }, policy: 'pack' },
    want: { m: ['a'], n: ['b'] },
  },
  {
    name: 'zero replicas: placed nowhere',
    input: { models: [model('m', 0)], placements: { m: ['a'] }, present: { m: ['a'] } },
    want: { m: [] },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const input: PlanInput = { nodes: three, placements: {}, present: {}, policy: 'spread', ...c.input };
    t.same(planPlacements(input), c.want);
    const shuffled: PlanInput = { ...input, nodes: [...input.nodes].reverse(), models: [...input.models].reverse() };
    t.same(planPlacements(shuffled), c.want, 'the same plan whatever order the input lists things in');
  });
}

t.test('the plan is a fixed point: planning again from it moves nothing', async (t) => {
  const input: PlanInput = { nodes: three, models: [model('m', 2), model('n', 1), model('o', 3)], placements: {}, present: {}, policy: 'spread' };
  const first = planPlacements(input);
  t.same(planPlacements({ ...input, placements: first }), first);
});
