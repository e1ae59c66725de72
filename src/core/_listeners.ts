// A set of listeners, each subscription with its unsubscribe function. Internal to core.
export class Listeners<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();

  /** Adds a listener; returns the function that removes it. */
  add(listener: (...args: A) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  /** Calls every listener, in subscription order. */
  emit(...args: A): void {
    for (const l of this.set) l(...args);
  }
}
