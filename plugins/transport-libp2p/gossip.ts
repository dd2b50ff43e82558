// Gossip topics over gossipsub for the transport contract: several listeners share one
// subscription, and messages relayed by a peer that is not a member are dropped.

import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import type { GossipMessage } from '../../core/contracts/transport.js';

type Listener = (message: GossipMessage) => void;

export class GossipTopics {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly pubsub: GossipSub,
    private readonly isMember: (peerId: string) => boolean,
  ) {
    pubsub.addEventListener('message', this.onMessage);
  }

  close(): void {
    this.pubsub.removeEventListener('message', this.onMessage);
    this.listeners.clear();
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    await this.pubsub.publish(topic, data);
  }

  subscribe(topic: string, listener: Listener): () => void {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
      // Ignore, not reject: a member's first message can race its admission on this side.
      this.pubsub.topicValidators.set(topic, (source: PeerId) => (this.isMember(source.toString()) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore));
      this.pubsub.subscribe(topic);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(topic);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(topic);
      this.pubsub.unsubscribe(topic);
      this.pubsub.topicValidators.delete(topic);
    };
  }

  private readonly onMessage = (event: CustomEvent<Message>) => {
    const message = event.detail;
    const set = this.listeners.get(message.topic);
    if (!set || message.type !== 'signed') return;
    const gossip: GossipMessage = { from: message.from.toString(), topic: message.topic, data: message.data };
    for (const listener of [...set]) listener(gossip);
  };
}
