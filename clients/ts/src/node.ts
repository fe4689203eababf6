/** Node-only additions: everything of the main entry plus the file store. */
export * from './index';
export { FileStore } from './store-file';
