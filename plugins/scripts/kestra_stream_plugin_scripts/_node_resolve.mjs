// A resolve hook: a bare specifier (`lodash`, `@kestra-io/libs`) that the usual lookup (the importing
// file's node_modules, then its parents') cannot find is looked up once more from the cached package
// folder. Relative, absolute and URL specifiers, and every other error, are left as they are.
let fallbackParent;

export async function initialize(data) {
  fallbackParent = data;
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const bare = !/^(\.|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !bare || fallbackParent === undefined) {
      throw error;
    }
    return nextResolve(specifier, { ...context, parentURL: fallbackParent });
  }
}
