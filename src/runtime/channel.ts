/**
 * A queue with an async-iterator face: producers `push`, one consumer awaits
 * `next()`. Used for the controller's result stream; it does not bound itself —
 * producers read `size` and hold back (the controller's runner does), and
 * `onTake` tells them when the consumer took an item.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private head = 0;
  private waiter?: (r: IteratorResult<T>) => void;
  private closed = false;

  constructor(private readonly onTake?: () => void) {}

  /** Items pushed and not yet taken. */
  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  /** Ends the stream once the queued items are consumed (or at once when `drop` is set). */
  close(drop = false): void {
    this.closed = true;
    if (drop) {
      this.items.length = 0;
      this.head = 0;
    }
    if (this.waiter && this.head >= this.items.length) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      this.onTake?.();
      return Promise.resolve({ value, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
