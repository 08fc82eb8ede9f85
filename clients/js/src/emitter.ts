/**
 * A small typed event emitter (the client ships without runtime dependencies, and the
 * platforms' EventTarget would hand handlers Event objects instead of payloads).
 */

export type Handler<P> = (payload: P) => void;

export class Emitter<Events extends object> {
  readonly #handlers = new Map<string, Set<Handler<never>>>();

  on<K extends keyof Events & string>(name: K, handler: Handler<Events[K]>): void;
  on(name: string, handler: Handler<never>): void;
  on(name: string, handler: Handler<never>): void {
    let set = this.#handlers.get(name);
    if (!set) {
      set = new Set();
      this.#handlers.set(name, set);
    }
    set.add(handler);
  }

  off<K extends keyof Events & string>(name: K, handler: Handler<Events[K]>): void;
  off(name: string, handler: Handler<never>): void;
  off(name: string, handler: Handler<never>): void {
    this.#handlers.get(name)?.delete(handler);
  }

  /**
   * Calls every handler of `name`. A handler that throws does not keep the others (or the
   * client's processing of the frame) from running; its error is rethrown on its own task,
   * where the platform reports it as uncaught.
   */
  emit<K extends keyof Events & string>(name: K, payload: Events[K]): void;
  emit(name: string, payload: unknown): void;
  emit(name: string, payload: unknown): void {
    const set = this.#handlers.get(name);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        (handler as Handler<unknown>)(payload);
      } catch (error) {
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
  }
}
