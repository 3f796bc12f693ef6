/**
 * Only for bench/servers.ts, which imports `waitForOk` from here and is edited on another branch: the spawned
 * server and its helpers are in server.ts. Delete this file once bench/servers.ts imports from './server.js'.
 */
export { waitForOk } from './server.js';
