/**
 * The Node entry: the same client, whose default WebSocket is the `ws` package (Node 20 has
 * `fetch` but no stable global WebSocket). Everything else is exported as in index.ts.
 */
import WebSocket from "ws";
import { ChatClient as CoreClient } from "./client.js";
export * from "./index.js";
export class ChatClient extends CoreClient {
    constructor(options) {
        super({ WebSocket, ...options });
    }
}
