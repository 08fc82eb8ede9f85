/**
 * A small typed event emitter (the client ships without runtime dependencies, and the
 * platforms' EventTarget would hand handlers Event objects instead of payloads).
 */
export class Emitter {
    #handlers = new Map();
    on(name, handler) {
        let set = this.#handlers.get(name);
        if (!set) {
            set = new Set();
            this.#handlers.set(name, set);
        }
        set.add(handler);
    }
    off(name, handler) {
        this.#handlers.get(name)?.delete(handler);
    }
    emit(name, payload) {
        const set = this.#handlers.get(name);
        if (!set)
            return;
        for (const handler of [...set]) {
            try {
                handler(payload);
            }
            catch (error) {
                setTimeout(() => {
                    throw error;
                }, 0);
            }
        }
    }
}
