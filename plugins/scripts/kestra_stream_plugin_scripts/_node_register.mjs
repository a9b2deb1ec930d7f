// Loaded with `node --import` (NODE_OPTIONS) by node script tasks whose code uses ES modules: lets their
// `import` statements find the task's cached npm packages, as NODE_PATH lets `require` find them.
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const folder = process.env.KESTRA_STREAM_NODE_PACKAGES;
if (folder && typeof nodeModule.register === 'function') {
  nodeModule.register('./_node_resolve.mjs', import.meta.url,
    { data: pathToFileURL(join(folder, 'package.json')).href });
}
