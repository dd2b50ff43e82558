// Which nodes should hold which model: a pure function of the members, the models with their
// desired replicas and what is placed and present now. The placement loop feeds it and proposes
// what changed; nothing here reads a clock, a disk or the network.

export const PLACEMENT_POLICIES = ['spread', 'pack'] as const;
export type PlacementPolicy = (typeof PLACEMENT_POLICIES)[number];

export interface PlannerNode {
  id: string;
  drained: boolean;
  /** Silent for less than distribution.replace_after: keeps its placements, takes no new one. */
  down?: boolean;
  /** Bytes free for models; undefined when the node does not say. */
  diskFree?: number;
  /** VRAM free across its GPUs; undefined for a node without GPUs, which runs models from system memory. */
  vramFree?: number;
}

export interface PlannerModel {
  name: string;
  /** Bytes on disk. */
  size: number;
  /** Bytes of VRAM it takes loaded. */
  vram: number;
  replicas: number;
}

export interface PlanInput {
  /** The live members: a node missing here holds nothing in the plan. */
  nodes: PlannerNode[];
  models: PlannerModel[];
  /** Model → nodes placed now. */
  placements: Record<string, string[]>;
  /** Model → nodes holding a verified copy now. */
  present: Record<string, string[]>;
  policy: PlacementPolicy;
}

/** Model → the node ids that should hold it, sorted; every model of the input has an entry. */
export type Placements = Record<string, string[]>;

interface Room {
  node: PlannerNode;
  disk: number;
  vram: number;
  models: number;
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Larger models first, so packing does not strand a large one behind small ones; names break ties. */
const modelOrder = (a: PlannerModel, b: PlannerModel) => b.size - a.size || byId(a.name, b.name);

function fits(room: Room, model: PlannerModel, holdsIt: boolean): boolean {
  if (room.node.drained) return false;
  if (!holdsIt && room.disk < model.size) return false;
  return room.vram >= model.vram;
}

/**
 * Keeps every placement still valid (live, undrained node) up to the desired count, preferring
 * nodes that hold a copy; then adds nodes, those holding a copy first, then by policy: `spread`
 * takes the node with the fewest models, `pack` the one with the most that still fits. Ties go by
 * node id, so every leader computes the same plan.
 */
export function planPlacements(input: PlanInput): Placements {
  const rooms = new Map<string, Room>(
    [...input.nodes]
      .sort((a, b) => byId(a.id, b.id))
      .map((node) => [node.id, { node, disk: node.diskFree ?? Infinity, vram: node.vramFree ?? Infinity, models: 0 }]),
  );
  const models = [...input.models].sort(modelOrder);
  const plan: Placements = {};

  for (const model of models) {
    const present = new Set(input.present[model.name] ?? []);
    const kept = (input.placements[model.name] ?? [])
      .filter((id) => rooms.get(id)?.node.drained === false)
      .sort((a, b) => Number(present.has(b)) - Number(present.has(a)) || byId(a, b))
      .slice(0, model.replicas);
    for (const id of kept) {
      const room = rooms.get(id)!;
      room.models += 1;
      // A copy on its way takes its disk space before it arrives.
      if (!present.has(id)) room.disk -= model.size;
    }
    plan[model.name] = kept;
  }

  for (const model of models) {
    const chosen = plan[model.name]!;
    const present = new Set(input.present[model.name] ?? []);
    while (chosen.length < model.replicas) {
      const candidates = [...rooms.values()].filter((room) => !room.node.down && !chosen.includes(room.node.id) && fits(room, model, present.has(room.node.id)));
      if (candidates.length === 0) break;
      const pick = candidates.sort((a, b) => {
        const holds = Number(present.has(b.node.id)) - Number(present.has(a.node.id));
        const load = input.policy === 'pack' ? b.models - a.models : a.models - b.models;
        return holds || load || byId(a.node.id, b.node.id);
      })[0]!;
      chosen.push(pick.node.id);
      pick.models += 1;
      pick.vram -= model.vram;
      if (!present.has(pick.node.id)) pick.disk -= model.size;
    }
    chosen.sort(byId);
  }
  return plan;
}
