// Promise.withResolvers for Node 20: libp2p 3 calls it and Node adds it only in 22. Every entry
// point that loads libp2p imports this module first.

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const promise = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };

promise.withResolvers ??= <T>(): Resolvers<T> => {
  let resolve!: Resolvers<T>['resolve'];
  let reject!: Resolvers<T>['reject'];
  const created = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise: created, resolve, reject };
};
