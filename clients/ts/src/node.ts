/** Node-only additions: everything of the main entry plus the file store. */
export * from './index.js';
export { FileStore } from './store-file.js';
