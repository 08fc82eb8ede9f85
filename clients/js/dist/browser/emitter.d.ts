/**
 * A small typed event emitter (the client ships without runtime dependencies, and the
 * platforms' EventTarget would hand handlers Event objects instead of payloads).
 */
export type Handler<P> = (payload: P) => void;
export declare class Emitter<Events extends object> {
    #private;
    on<K extends keyof Events & string>(name: K, handler: Handler<Events[K]>): void;
    on(name: string, handler: Handler<never>): void;
    off<K extends keyof Events & string>(name: K, handler: Handler<Events[K]>): void;
    off(name: string, handler: Handler<never>): void;
    /**
     * Calls every handler of `name`. A handler that throws does not keep the others (or the
     * client's processing of the frame) from running; its error is rethrown on its own task,
     * where the platform reports it as uncaught.
     */
    emit<K extends keyof Events & string>(name: K, payload: Events[K]): void;
    emit(name: string, payload: unknown): void;
}
