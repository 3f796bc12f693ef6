/**
 * The browser bundle's entry (`dist/instantchat-client.js`, served at `/client/instantchat-client.js`): an IIFE
 * that exposes the SDK as the global `InstantChat`, socket.io-client included, for pages without a bundler.
 *
 * ```html
 * <script src="/client/instantchat-client.js"></script>
 * <script type="module" src="app.js"></script>  <!-- InstantChat.createNotificationClient({...}) -->
 * ```
 */
export { createNotificationClient, AnswerError } from './notification-client.js';
export { decodeToken } from './token.js';
