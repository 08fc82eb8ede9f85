/**
 * The browser build's entry (dist/browser/chat-gateway.js): the universal client, loadable
 * with `<script type="module">` from a static URL. It and every file it imports live in
 * dist/browser/ and import each other by relative paths only.
 */
export * from "./index.js";
