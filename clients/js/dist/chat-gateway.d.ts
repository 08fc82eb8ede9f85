/**
 * The browser entry (dist/chat-gateway.js): the universal client, loadable with
 * `<script type="module">` from a static URL. It and every file it imports live in dist/ and
 * import each other by relative paths only (dist/node.js, which imports `ws`, is not among
 * them: a page serves dist/ without it).
 */
export * from "./index.js";
